// A foreign OPC UA client (node-opcua) for tests/system/test_inspection_interop.py.
//
// Connects without security, subscribes to the verdict variable, writes a VIN
// and waits for that VIN's verdict; then reads the verdict variable again.
// Prints one JSON line: {"write": STATUS, "changes": [...], "read": VALUE}.
// Exit 1 with the error on stderr on any failure (no verdict within TIMEOUT_MS).
//
// usage: node inspection_interop_client.js URL VIN_NODE VERDICT_NODE VIN TIMEOUT_MS
"use strict";

const {
  AttributeIds,
  DataType,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
} = require("node-opcua-client");

async function main() {
  const [url, vinNode, verdictNode, vin, timeoutText] = process.argv.slice(2);
  const timeoutMs = Number(timeoutText);
  const client = OPCUAClient.create({
    applicationName: "station-interop-test",
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
  });
  await client.connect(url);
  try {
    const session = await client.createSession();
    const subscription = await session.createSubscription2({
      requestedPublishingInterval: 50,
      requestedMaxKeepAliveCount: 20,
      requestedLifetimeCount: 600,
      publishingEnabled: true,
    });
    const item = await subscription.monitor(
      { nodeId: verdictNode, attributeId: AttributeIds.Value },
      { samplingInterval: 0, queueSize: 16, discardOldest: true },
      TimestampsToReturn.Both,
    );
    const changes = [];
    const verdict = new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no verdict for ${vin} within ${timeoutMs} ms: ${changes}`)),
        timeoutMs,
      );
      item.on("changed", (dataValue) => {
        const value = dataValue.value.value;
        changes.push(value);
        if (value === `${vin}:pass` || value === `${vin}:fail`) {
          clearTimeout(timer);
          resolve(value);
        }
      });
    });
    const status = await session.write({
      nodeId: vinNode,
      attributeId: AttributeIds.Value,
      value: { value: { dataType: DataType.String, value: vin } },
    });
    await verdict;
    const read = await session.read({ nodeId: verdictNode, attributeId: AttributeIds.Value });
    console.log(JSON.stringify({ write: status.name, changes, read: read.value.value }));
    await subscription.terminate();
    await session.close();
  } finally {
    await client.disconnect();
  }
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
