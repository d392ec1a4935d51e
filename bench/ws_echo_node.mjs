// The Node reference that bench/ws_echo.sh measures tincan against: a `ws` echo server.
// Every message comes back with its type, on any path; no permessage-deflate.
//
//   node bench/ws_echo_node.mjs [PORT]   (0 or nothing: any free port; prints "listening on PORT")
import { createRequire } from 'node:module';
import { WebSocketServer } from 'ws';

const wsVersion = createRequire(import.meta.url)('ws/package.json').version;

const port = Number(process.argv[2] || 0);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });

wss.on('connection', (ws) => {
  // Without a listener, one bad frame from one client would take the whole process down.
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('error', (err) => {
  console.error(`ws_echo_node: ${err.message}`);
  process.exit(1);
});
wss.on('listening', () => {
  console.log(`ws_echo_node ws ${wsVersion} node ${process.version} listening on ${wss.address().port}`);
});

// Open connections would keep wss.close() waiting; a benchmark peer can simply leave.
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
