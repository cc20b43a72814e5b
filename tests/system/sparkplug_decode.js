// Decodes Sparkplug B payloads with Eclipse Tahu's sparkplug-payload (npm), a decoder
// we did not write. Reads lines "TOPIC HEX" on stdin, prints one JSON line each:
// {"topic", "seq", "metrics": [{"name", "type", "value"}]}.
const path = require("path");
const readline = require("readline");
const prefix = process.argv[2];
const sparkplug = require(path.join(prefix, "node_modules", "sparkplug-payload")).get("spBv1.0");
const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const [topic, hex] = line.split(" ");
  const payload = sparkplug.decodePayload(Buffer.from(hex, "hex"));
  const metrics = payload.metrics.map((m) => ({
    name: m.name,
    type: m.type,
    value: m.value === null || m.value === undefined ? null : m.value.toString(),
  }));
  const seq = payload.seq === undefined || payload.seq === null ? null : Number(payload.seq);
  console.log(JSON.stringify({ topic, seq, metrics }));
});
