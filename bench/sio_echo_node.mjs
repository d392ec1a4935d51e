// The Node peer for the Socket.IO benchmark: socket.io 4.8 with the same handlers as tincan's
// main namespace. `echo` answers the sender with the same arguments; `bench:join` joins the room
// "bench"; `bench:fanout` emits `bench:msg` with the same arguments to that room.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { Server } = require('socket.io');

const port = Number(process.argv[2] || 0);
const http = createServer();
const io = new Server(http, { transports: ['websocket', 'polling'] });
io.on('connection', (socket) => {
  socket.on('echo', (...args) => socket.emit('echo', ...args));
  socket.on('bench:join', () => socket.join('bench'));
  socket.on('bench:fanout', (...args) => io.to('bench').emit('bench:msg', ...args));
});
http.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${http.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
