// Starts the Cosmos DB stand-in (@vercel/cosmosdb-server) over HTTPS on HOST:PORT with HTTP keep-alive on.
// Its own CLI answers every request with "Connection: close", so each SDK call would pay a new TLS handshake
// (measured: 1,500 inserts took 72 s that way). Usage: node serve.js HOST PORT
"use strict";
const { createHttpsServer } = require("@vercel/cosmosdb-server");

const [host, port] = process.argv.slice(2);
const server = createHttpsServer({ keepAlive: true });
server.keepAliveTimeout = 60000;
server.listen(Number(port), host, () => {
  console.log(`Ready to accept HTTPS connections at ${host}:${port}`);
});
