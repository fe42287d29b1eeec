// Compile-time tests of the public types, checked by `npm run typecheck`
// (part of `npm test`): each `@ts-expect-error` line must fail to compile,
// or tsc reports the directive as unused. Nothing here runs.
import type { Subscription } from 'rxjs';
import {
  connect,
  createServer,
  createSocket,
  lowlevel,
  socketPair,
  type FrameFormat,
  type UnixMessage,
  type UnixMessageServer,
  type UnixMessageSocket,
} from '../../src/index';
import { fromSocket } from '../../src/rx/index';
import { createPool, type WorkerPool } from '../../src/pool/index';
import { barrier, listenFds, notify, watchdog, type ListenFd } from '../../src/systemd/index';

declare function takesBuffer(b: Buffer): void;

export function socketEvents(s: UnixMessageSocket): void {
  s.on('data', (m) => {
    const data: Buffer = m.data;
    const fds: number[] = m.fds;
    void data;
    void fds;
  });
  s.once('data', (m: UnixMessage) => void m);
  s.on('error', (err) => void err.message);
  s.on('connect', () => undefined);
  s.on('close', () => undefined);
  // @ts-expect-error 'close' gives no argument (the error, if any, came as 'error')
  s.on('close', (hadError: boolean) => void hadError);
  // @ts-expect-error a message is not a string
  s.on('data', (m: string) => void m);
  // @ts-expect-error a message is not a Buffer chunk
  s.on('data', (m) => takesBuffer(m));
  // @ts-expect-error an event listener's arguments are checked for other events too
  s.on('drain', (n: number) => void n);
}

export async function socketIteration(s: UnixMessageSocket): Promise<void> {
  for await (const m of s) {
    const fds: number[] = m.fds;
    void fds;
    // @ts-expect-error the iterated value is a message, not a Buffer
    m.readUInt8(0); // eslint-disable-line @typescript-eslint/no-unsafe-call -- m has no such method: the line exists to fail
  }
  const one: UnixMessage | null = s.read();
  void one;
}

export function socketWrite(s: UnixMessageSocket): void {
  s.write('text');
  s.write(Buffer.from('bytes'));
  s.write({ data: [Buffer.from('a'), new Uint8Array(2)], fds: [0] });
  s.write({ fds: [1], lend: true }, (err) => void err);
  s.end({ data: 'bye' });
  // @ts-expect-error fds are numbers
  s.write({ data: 'x', fds: ['0'] });
  // @ts-expect-error a number is not a message
  s.write(42);
  // @ts-expect-error misspelt field
  s.write({ dat: 'x' });
}

export function serverEvents(server: UnixMessageServer): void {
  server.on('connection', (socket) => {
    const same: UnixMessageSocket = socket;
    void same;
  });
  server.on('listening', () => undefined);
  server.on('error', (err) => void err.message);
  // @ts-expect-error 'connection' gives a UnixMessageSocket, not a string
  server.on('connection', (socket: string) => void socket);
  // @ts-expect-error a server has no 'data' event
  server.on('data', () => undefined);
}

export function entryPoints(): void {
  const [a, b] = socketPair('seqpacket');
  const sub: Subscription = fromSocket(a).subscribe((m) => void m.fds);
  sub.unsubscribe();
  a.destroy();
  b.destroy();
  const s: UnixMessageSocket = connect({ path: '\0x' });
  s.destroy();
  const server: UnixMessageServer = createServer();
  void server;
  // @ts-expect-error an unknown socket type
  socketPair('raw');
  const framed: FrameFormat = { headerSize: 16, frameLength: (h: Buffer) => 16 + h.readUInt32LE(4) };
  socketPair('stream', { framed });
  socketPair('stream', { framed: true });
  // @ts-expect-error frameLength gets the header Buffer and returns a number
  socketPair('stream', { framed: { headerSize: 4, frameLength: (h: string) => h.length } });
  // @ts-expect-error framed is true or a FrameFormat
  socketPair('stream', { framed: 'yes' });
  const pool: WorkerPool = createPool({ script: 'w.js' });
  void pool;
}

export function lowlevelInet(fd: number): void {
  const sock: number = lowlevel.socket('inet6', 'dgram');
  // @ts-expect-error no such family
  lowlevel.socket('ipx', 'dgram');
  lowlevel.bind(sock, { address: '::1', port: 0 });
  lowlevel.bind(sock, { address: '::1', port: 0, family: 'IPv6' });
  // @ts-expect-error an inet address needs a port
  lowlevel.bind(sock, { address: '::1' });
  const inProgress: boolean = lowlevel.connect(sock, '/tmp/x.sock');
  const name = lowlevel.getsockname(fd);
  if (name !== null && typeof name !== 'string') {
    const family: 'IPv4' | 'IPv6' = name.family;
    void family;
  }
  const { fd: conn, address } = lowlevel.accept(fd);
  const from = lowlevel.recvmsg(conn).address;
  if (typeof from === 'object') void from.port;
  void address;
  void inProgress;
  // Unix names as bytes in the BSD calls too: a Uint8Array in, a Buffer out with addressEncoding 'buffer'.
  lowlevel.bind(sock, Buffer.from('\0raw'));
  lowlevel.connect(sock, new Uint8Array([0, 0xe9]));
  const raw: Buffer | lowlevel.InetAddress | null = lowlevel.getsockname(fd, { addressEncoding: 'buffer' });
  const peer: lowlevel.SocketAddress<Buffer> | null = lowlevel.getpeername(fd, { addressEncoding: 'buffer' });
  const text: string | lowlevel.InetAddress | null = lowlevel.getpeername(fd);
  const acceptedRaw: lowlevel.AcceptedSocket<Buffer> = lowlevel.accept(fd, { addressEncoding: 'buffer' });
  // @ts-expect-error with addressEncoding 'buffer' a Unix name is a Buffer, not a string
  const notText: string | lowlevel.InetAddress | null = lowlevel.getsockname(fd, { addressEncoding: 'buffer' });
  const rawFrom = lowlevel.recvmsg(conn, { addressEncoding: 'buffer' }).address;
  if (rawFrom !== undefined && !Buffer.isBuffer(rawFrom)) {
    const family: 'IPv4' | 'IPv6' = rawFrom.family;
    void family;
  }
  const into: Buffer | lowlevel.InetAddress | undefined = lowlevel.recvmsgInto(conn, Buffer.alloc(8), { addressEncoding: 'buffer' }).address;
  void [raw, peer, text, acceptedRaw, notText, into];
  const w: lowlevel.Watcher = lowlevel.watch(fd, { readable: true }, (e) => {
    const r: boolean = e.readable && e.writable;
    const code: string | undefined = e.error?.code;
    void r;
    void code;
  });
  w.stop().unref().ref().close();
  // @ts-expect-error Watcher is made by watch() only
  new lowlevel.Watcher(); // eslint-disable-line @typescript-eslint/no-unsafe-call -- the point: it does not resolve
}

export async function cancellation(): Promise<void> {
  const ac = new AbortController();
  const s: UnixMessageSocket = connect({ path: '/x', signal: ac.signal });
  // @ts-expect-error the option is the AbortSignal, not its controller
  connect({ path: '/x', signal: ac });
  createSocket({ type: 'dgram', bind: '', signal: AbortSignal.timeout(10) });
  const server: UnixMessageServer = createServer().listen({ path: '/x', signal: ac.signal });
  // @ts-expect-error a signal, not a flag
  server.listen({ path: '/x', signal: true });
  {
    await using disposedServer = server;
    await using disposedSocket = s;
    void [disposedServer, disposedSocket];
  }
  const done: Promise<void> = createServer()[Symbol.asyncDispose]();
  void done;
  const pool: WorkerPool = createPool({ script: 'worker.js', signal: ac.signal });
  const reply: UnixMessage = await pool.request('q', { signal: ac.signal, timeout: 100 });
  void reply;
  // @ts-expect-error a signal, not a reason
  void pool.request('q', { signal: 'abort' });
  // @ts-expect-error send() is fire-and-forget: there is nothing to cancel
  pool.send('m', { signal: ac.signal });
  await using disposedPool = pool;
  void disposedPool;
}

export async function systemdTypes(): Promise<void> {
  const fds: ListenFd[] = listenFds({ unsetEnvironment: false });
  const first: number | undefined = fds[0]?.fd;
  void first;
  const sent: boolean = await notify({ READY: 1, STATUS: 'up', ERRNO: 0n, X: true }, { fds: [3] });
  void sent;
  await notify('READY=1');
  await notify('READY=1', { signal: AbortSignal.timeout(5000) });
  // @ts-expect-error a signal, not a number of milliseconds
  await notify('READY=1', { signal: 5000 });
  // @ts-expect-error a field's value is a string, number, bigint or boolean
  await notify({ STATUS: { text: 'up' } });
  // @ts-expect-error fds is an array of numbers
  await notify('FDSTORE=1', { fds: 3 });
  const stop: () => void = watchdog({ onError: (err) => void err.message });
  stop();
  const done: boolean = await barrier({ timeout: 1000 });
  void done;
  // @ts-expect-error timeout is a number of milliseconds
  await barrier({ timeout: '5s' });
}
