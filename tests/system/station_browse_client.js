// node-opcua browses the station's Objects folder on a SecurityPolicy None endpoint,
// sending its own (untrusted) application certificate as node-opcua always does.
// usage: node station_browse_client.js URL ; prints one JSON line {names, certificate}
const { OPCUAClient, MessageSecurityMode, SecurityPolicy } = require("node-opcua-client");

async function main() {
  const [url] = process.argv.slice(2);
  const client = OPCUAClient.create({
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
  });
  await client.connect(url);
  const certificate = client.getCertificate();
  const session = await client.createSession();
  const result = await session.browse("ns=0;i=85");
  const names = result.references.map((r) => r.browseName.name);
  await session.close();
  await client.disconnect();
  console.log(JSON.stringify({ names, certificate: certificate ? certificate.length : 0 }));
}

main().catch((err) => {
  console.error(String(err));
  process.exit(1);
});
