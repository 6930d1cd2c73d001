'use strict';
// The node agent: socket calls through the net module, one JSON line per call
// (lab/agents/PROTOCOL.md).
//
// Written as an ordinary Node program is: sockets flow, so Node reads what
// arrives into this program's own buffer at once and the kernel keeps no unread
// data (`recv` takes from that buffer; a `close` over "unread" data finds the
// kernel's queue empty). Node accepts connections as they arrive; `accept` takes
// the next one from the program's queue. `allowHalfOpen` stays false: Node ends
// its own side when the peer's FIN arrives. A send's answer is its write
// callback, or the socket's 'error' before it. An 'error' or 'end' that arrives
// between calls is kept: `recv` answers with it, and the next call on that
// socket lists it under `between`. Failures report `err.code: err.message` as
// words, and the errno where err.code names the kernel's (err.syscall set).
// IPv6: listen({host: '::' or '0.0.0.0', ipv6Only}), connect({host, port})
// (net.isIP picks the family of a literal); addresses as Node gives them
// (an IPv4 peer of a dual-stack listener is ::ffff:a.b.c.d).
//
// Run: node agent.js
const net = require('net');
const os = require('os');
const readline = require('readline');

const socks = new Map();   // name -> Conn or Listener

const clocks = () => ({ mono: Number(process.hrtime.bigint()) / 1e9,
  real: (performance.timeOrigin + performance.now()) / 1000 });

class BadCommand extends Error {}
class Skipped extends Error {}
class TimedOut extends Error {}

// Node offers these, and only these, of the protocol's options.
const OPTIONS = {
  SO_KEEPALIVE: (s, v) => s.setKeepAlive(Boolean(v)),
  TCP_NODELAY: (s, v) => s.setNoDelay(Boolean(v)),
  SO_REUSEADDR: (s, v) => { if (!v) throw new Skipped('SO_REUSEADDR off: libuv sets it on every TCP bind'); },
};

function setOption(sock, name, value) {
  if (!(name in OPTIONS)) throw new Skipped(`${name}: Node's net has no API for it`);
  OPTIONS[name](sock, value);
}

// Something that wakes waiters when its state changes.
class Waitable {
  constructor() { this.wakers = []; }
  poke() { const w = this.wakers; this.wakers = []; w.forEach(f => f()); }
  // Resolve with cond()'s first truthy value; reject with TimedOut after `timeout` seconds.
  until(cond, timeout) {
    return new Promise((resolve, reject) => {
      let timer = null;
      const check = () => {
        const v = cond();
        if (v) { clearTimeout(timer); resolve(v); } else this.wakers.push(check);
      };
      if (timeout != null) timer = setTimeout(() => { this.wakers = this.wakers.filter(f => f !== check); reject(new TimedOut()); }, timeout * 1000);
      check();
    });
  }
}

class Conn extends Waitable {
  constructor(sock) {
    super();
    Object.assign(this, { sock, chunks: [], size: 0, ended: false, error: null, closed: false, between: [] });
    sock.on('data', d => { this.chunks.push(d); this.size += d.length; this.poke(); });
    sock.on('end', () => { this.ended = true; this.note('end'); });
    sock.on('error', e => { this.error = this.error || e; this.note('error', e); });
    sock.on('connect', () => this.poke());
    sock.on('close', () => { this.closed = true; this.poke(); });
  }
  note(what, err) {
    this.between.push({ event: what, ...(err ? failure(err) : {}), real: clocks().real });
    this.poke();
  }
  take(n) {
    const all = Buffer.concat(this.chunks);
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    this.size = Math.max(0, all.length - n);
    return Math.min(n, all.length);
  }
}

class Listener extends Waitable {
  constructor(server) { super(); Object.assign(this, { server, queue: [] }); }
}

// What a failed call reports: the runtime's words, and the kernel's errno where Node names it.
function failure(err) {
  const out = { words: `${err.code}: ${err.message}` };
  if (err.syscall && typeof err.errno === 'number' && os.constants.errno[err.code] === -err.errno) out.errno = err.code;
  return out;
}

function endpoints(s) {
  return { local: [s.localAddress, s.localPort], peer: [s.remoteAddress, s.remotePort] };
}

function get(cmd, dflt, type) {
  const name = cmd.sock == null ? dflt : cmd.sock;
  const s = socks.get(name);
  if (!(s instanceof type)) throw new BadCommand(`no socket named '${name}'`);
  return s;
}

const ops = {
  async listen(cmd) {
    // net.Server accepts every connection as it arrives (onconnection): the kernel's queue never
    // fills, and a Node program has no way to leave connections in it
    if (cmd.backlog != null) throw new Skipped('listen backlog: a Node server accepts each connection as it arrives (net.Server), so the kernel\'s accept queue never fills');
    const opts = cmd.options || {};
    Object.keys(opts).forEach(k => { if (!['SO_REUSEADDR', 'SO_KEEPALIVE', 'TCP_NODELAY', 'IPV6_V6ONLY'].includes(k)) setOption(null, k, opts[k]); });
    const family = cmd.family == null ? 4 : cmd.family;
    if (family !== 4 && family !== 6) throw new BadCommand(`family ${family}: 4 or 6`);
    if (opts.SO_REUSEADDR === 0) setOption(null, 'SO_REUSEADDR', 0);
    const server = net.createServer({ keepAlive: Boolean(opts.SO_KEEPALIVE), noDelay: Boolean(opts.TCP_NODELAY) });
    const l = new Listener(server);
    server.on('connection', s => { l.queue.push(new Conn(s)); l.poke(); });
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      // ipv6Only is libuv's UV_TCP_IPV6ONLY: IPV6_V6ONLY set before bind (uv__tcp_bind)
      server.listen({ port: cmd.port, host: family === 6 ? '::' : '0.0.0.0', ipv6Only: Boolean(opts.IPV6_V6ONLY), backlog: 16 }, resolve);
    });
    socks.set(cmd.sock == null ? 'listener' : cmd.sock, l);
    return { ret: null };
  },

  async accept(cmd) {
    const l = get({ sock: cmd.listener }, 'listener', Listener);
    const c = await l.until(() => l.queue.shift(), cmd.timeout);
    socks.set(cmd.sock == null ? 'conn' : cmd.sock, c);
    return { ret: null, ...endpoints(c.sock) };
  },

  async connect(cmd) {
    if (cmd.style != null) throw new Skipped(`connect style ${cmd.style}: net.connect connects one way (nonblocking, libuv)`);
    const s = new net.Socket();
    const c = new Conn(s);
    socks.set(cmd.sock == null ? 'conn' : cmd.sock, c);
    Object.entries(cmd.options || {}).forEach(([k, v]) => setOption(s, k, v));
    const extra = { how: 'net.Socket.connect (nonblocking, libuv); the deadline is a timer, then destroy()', peer: [cmd.addr, cmd.port] };
    s.on('lookup', (e, ip) => { if (ip) extra.peer = [ip, cmd.port]; }).on('connectionAttempt', ip => { extra.peer = [ip, cmd.port]; });   // a name: the address tried
    s.connect({ host: cmd.addr, port: cmd.port });
    try {
      await c.until(() => c.error || (!s.connecting && !s.pending), cmd.timeout);
    } catch (e) {
      s.destroy();
      throw Object.assign(e, { extra });
    }
    c.between = [];   // the connect's own error is its answer
    if (c.error) return { ...failure(c.error), ...extra };
    return { ret: null, ...extra, ...endpoints(s) };
  },

  async send(cmd) {
    const c = get(cmd, 'conn', Conn);
    const n = cmd.bytes == null ? 1 : cmd.bytes;
    if (cmd.dontwait && cmd.op === 'send') {
      // write() never fails for a full kernel buffer: libuv writes what the kernel takes (uv__write, nonblocking)
      // and queues the rest in this process; write() returns false once Node holds highWaterMark or more
      const kept = c.sock.write(Buffer.alloc(n, 'x'));
      return { ret: n, how: `write() returned ${kept}, no wait for its callback`, buffered: c.sock.writableLength };
    }
    const before = c.error;
    const err = await new Promise(resolve => {
      c.sock.write(Buffer.alloc(n, 'x'), resolve);
      c.until(() => c.error !== before && c.error, null).then(resolve);
    });
    return err ? failure(err) : { ret: n };
  },

  async recv(cmd, all) {
    const c = get(cmd, 'conn', Conn);
    const want = cmd.bytes == null ? 65536 : cmd.bytes;
    const ready = () => (all ? c.size >= want : c.size > 0) || c.ended || c.error || c.closed;
    try {
      await c.until(ready, cmd.timeout);
    } catch (e) {
      if (all) e.extra = { partial: c.take(want) };
      throw e;
    }
    if (c.size > 0 || c.ended) return { ret: c.take(want), ...(c.size === 0 && c.ended ? { words: 'end' } : {}) };
    if (c.error) return failure(c.error);
    return { ret: 0, words: 'close' };   // destroyed without 'end' or 'error'
  },

  async shutdown(cmd) {
    const c = get(cmd, 'conn', Conn);
    if (cmd.how && cmd.how !== 'WR') throw new Skipped(`shutdown ${cmd.how}: Node's net can only end() its writing side`);
    const err = await new Promise(resolve => c.sock.end(resolve));
    return err ? failure(err) : { ret: null };
  },

  async close(cmd) {
    const name = cmd.sock == null ? 'conn' : cmd.sock;
    const s = socks.get(name);
    if (!s) throw new BadCommand(`no socket named '${name}'`);
    socks.delete(name);
    if (s instanceof Listener) s.server.close();
    else { s.sock.destroy(); await s.until(() => s.closed, null); }
    return { ret: null };
  },

  async setsockopt(cmd) {
    setOption(get(cmd, 'conn', Conn).sock, cmd.option, cmd.value);
    return { ret: null };
  },

  // what a Node program asks: socket.remoteAddress, which net.js keeps once it has read it (at connect or accept)
  async getpeername(cmd) {
    const s = get(cmd, 'conn', Conn).sock;
    return { ret: null, address: [s.remoteAddress ?? null, s.remotePort ?? null] };
  },

  async so_error() { throw new Skipped("SO_ERROR: Node's net has no getsockopt API"); },
  async state() { throw new Skipped("TCP state polling: Node's net exposes no TCP_INFO"); },
  async acked() { throw new Skipped("unacknowledged bytes: Node's net exposes no SIOCOUTQ"); },
};
ops.sendall = ops.send;   // write() hands every byte to libuv; its callback comes once all are written
ops.recvall = cmd => ops.recv(cmd, true);

async function handle(cmd) {
  const ev = { id: cmd.id, op: cmd.op, sock: cmd.sock == null ? null : cmd.sock, start: clocks() };
  const conn = socks.get(cmd.sock == null ? 'conn' : cmd.sock);
  try {
    if (!(cmd.op in ops)) throw new BadCommand(`unknown op '${cmd.op}'`);
    Object.assign(ev, await ops[cmd.op](cmd));
  } catch (e) {
    if (e instanceof BadCommand) ev.error = e.message;
    else if (e instanceof Skipped) ev.skipped = e.message;
    else if (e instanceof TimedOut) Object.assign(ev, { timeout: cmd.timeout }, e.extra);
    else throw e;
  }
  if (conn instanceof Conn && conn.between.length) { ev.between = conn.between; conn.between = []; }
  ev.end = clocks();
  return ev;
}

async function main() {
  const hello = { op: 'hello', pid: process.pid, runtime: 'node', version: `${process.version} (libuv ${process.versions.uv})`, sigpipe: 'ignore' };
  if (process.argv.includes('--sigpipe=default')) hello.skipped = '--sigpipe=default: Node ignores SIGPIPE at start-up and has no API to restore SIG_DFL';
  const write = ev => process.stdout.write(JSON.stringify(ev) + '\n');   // synchronous for pipes on Linux
  write({ ...hello, start: clocks() });
  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    let cmd;
    try { cmd = JSON.parse(line); } catch (e) { write({ error: e.message, start: clocks(), end: clocks() }); continue; }
    if (cmd.op === 'exit') {
      write({ id: cmd.id, op: 'exit', ret: null, start: clocks(), end: clocks() });
      process.exit(0);   // without closing anything: the kernel closes our sockets as for a crashed program
    }
    write(await handle(cmd));
  }
}

main();
