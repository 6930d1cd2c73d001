import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.Map;

/**
 * The java-nio agent: nonblocking SocketChannels on one Selector, the way an NIO server is
 * written (and the way the 2014 write-up's program was). Every wait is a select() for the
 * channel's OP_ACCEPT, OP_CONNECT, OP_READ or OP_WRITE with the command's deadline; then the
 * call. A write returns what the kernel took (send is one write()); read's -1 is end of stream.
 * A channel registered with a selector is released only by the selector's next turn, so close
 * is close() and then selectNow(), as an event loop's next iteration does. Failures are the
 * exception's class and message; Java exposes no errno. See lab/agents/PROTOCOL.md.
 */
final class NioAgent extends Protocol {
    private final Selector selector;

    NioAgent() throws IOException { selector = Selector.open(); }

    @Override
    String runtime() { return "java-nio"; }

    /** select() until the channel is ready for `ops`, or TimedOut at the command's deadline. */
    private void await(SelectableChannel ch, int ops, Map<String, Object> cmd) throws IOException, TimedOut {
        SelectionKey key = ch.keyFor(selector);
        key.interestOps(ops);
        long ms = timeoutMs(cmd), deadline = System.nanoTime() + ms * 1_000_000;
        try {
            while (true) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (ms == 0) selector.select();
                else if (left > 0) selector.select(left);
                else selector.selectNow();
                if (selector.selectedKeys().remove(key) && (key.readyOps() & ops) != 0) return;
                if (ms != 0 && System.nanoTime() >= deadline) throw new TimedOut();
            }
        } finally {
            if (key.isValid()) key.interestOps(0);
            selector.selectedKeys().clear();
        }
    }

    @Override
    Object call(String op, Map<String, Object> cmd, Map<String, Object> ev) throws Exception {
        switch (op) {
            case "listen": {
                ServerSocketChannel l = ServerSocketChannel.open();
                sockets.put(str(cmd, "sock", "listener"), l);
                l.configureBlocking(false);
                l.setOption(java.net.StandardSocketOptions.SO_REUSEADDR, true);
                setOptions(l, cmd);
                l.bind(wildcard(cmd), num(cmd, "backlog", 16));
                l.register(selector, 0);
                return null;
            }
            case "accept": {
                ServerSocketChannel l = sock(cmd, "listener", "listener", ServerSocketChannel.class);
                await(l, SelectionKey.OP_ACCEPT, cmd);
                SocketChannel c = l.accept();
                c.configureBlocking(false);
                c.register(selector, 0);
                sockets.put(str(cmd, "sock", "conn"), c);
                endpoints(c, ev);
                return null;
            }
            case "connect": {
                if (cmd.get("style") != null) throw new Skipped("connect style " + cmd.get("style") + ": one way in NIO here (Selector OP_CONNECT)");
                SocketChannel c = SocketChannel.open();
                sockets.put(str(cmd, "sock", "conn"), c);
                c.configureBlocking(false);
                c.register(selector, 0);
                setOptions(c, cmd);
                InetSocketAddress peer = remote(cmd);
                ev.put("how", "nonblocking SocketChannel.connect(), select() OP_CONNECT, finishConnect()");
                ev.put("peer", Arrays.asList(peer.getAddress().getHostAddress(), peer.getPort()));
                if (!c.connect(peer)) {   // pending: SocketChannelImpl knows no local address until it completes
                    await(c, SelectionKey.OP_CONNECT, cmd);
                    c.finishConnect();
                }
                endpoints(c, ev);
                return null;
            }
            case "send":   // one write() on a nonblocking channel: what the kernel took, 0 where it said EAGAIN
                if (Boolean.TRUE.equals(cmd.get("dontwait"))) ev.put("how", "SocketChannel.write() once, nonblocking: 0 for EAGAIN (IOStatus.normalize)");
                return sock(cmd, "sock", "conn", SocketChannel.class).write(bytes(num(cmd, "bytes", 1)));
            case "sendall": {
                SocketChannel c = sock(cmd, "sock", "conn", SocketChannel.class);
                ByteBuffer b = bytes(num(cmd, "bytes", 0));
                try {
                    while (b.hasRemaining()) if (c.write(b) == 0) await(c, SelectionKey.OP_WRITE, cmd);
                } finally {
                    if (b.hasRemaining()) ev.put("partial", b.position());
                }
                return b.position();
            }
            case "recv": {
                SocketChannel c = sock(cmd, "sock", "conn", SocketChannel.class);
                ByteBuffer b = ByteBuffer.allocate(num(cmd, "bytes", 65536));
                int n;
                do {
                    await(c, SelectionKey.OP_READ, cmd);
                } while ((n = c.read(b)) == 0);
                return endOfStream(n, ev);
            }
            case "recvall": {
                SocketChannel c = sock(cmd, "sock", "conn", SocketChannel.class);
                ByteBuffer b = ByteBuffer.allocate(num(cmd, "bytes", 0));
                int n = 0;
                try {
                    while (b.hasRemaining() && n >= 0) {
                        await(c, SelectionKey.OP_READ, cmd);
                        n = c.read(b);
                    }
                } finally {
                    if (b.hasRemaining() && n >= 0) ev.put("partial", b.position());
                }
                return n < 0 ? endOfStream(b.position() == 0 ? -1 : b.position(), ev) : b.position();
            }
            case "shutdown": {
                SocketChannel c = sock(cmd, "sock", "conn", SocketChannel.class);
                String how = str(cmd, "how", "WR");
                if (!how.equals("WR")) c.shutdownInput();
                if (!how.equals("RD")) c.shutdownOutput();
                return null;
            }
            case "close": {
                SelectableChannel c = sock(cmd, "sock", "conn", SelectableChannel.class);
                sockets.remove(str(cmd, "sock", "conn"));
                c.close();
                selector.selectNow();   // the event loop's next turn: a registered channel's fd is released here
                return null;
            }
            case "setsockopt":
                setOption(sock(cmd, "sock", "conn", SocketChannel.class), str(cmd, "option", ""), cmd.get("value"));
                return null;
            case "getpeername":   // SocketChannelImpl keeps remoteAddress from the connect or accept
                ev.put("address", address(sock(cmd, "sock", "conn", SocketChannel.class).getRemoteAddress()));
                return null;
            case "so_error": throw new Skipped(SO_ERROR);
            case "state": throw new Skipped("TCP state polling: java.nio has no TCP_INFO");
            case "acked": throw new Skipped("unacknowledged bytes: java.nio has no SIOCOUTQ");
            default: throw new BadCommand("unknown op '" + op + "'");
        }
    }

    static ByteBuffer bytes(int n) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) 'x');
        return ByteBuffer.wrap(b);
    }

    /** read()'s -1 is end of stream: ret 0 in the protocol, -1 in Java's words. */
    static int endOfStream(int n, Map<String, Object> ev) {
        if (n < 0) ev.put("words", "-1");
        return Math.max(n, 0);
    }

    static Object address(java.net.SocketAddress a) {
        if (a == null) return null;
        InetSocketAddress i = (InetSocketAddress) a;
        return Arrays.asList(i.getAddress().getHostAddress(), i.getPort());
    }

    static void endpoints(SocketChannel c, Map<String, Object> ev) throws IOException {
        ev.put("local", address(c.getLocalAddress()));
        ev.put("peer", address(c.getRemoteAddress()));
        ev.put("effective", effective(c));
    }

    public static void main(String[] args) throws IOException {
        new NioAgent().run(args);
    }
}
