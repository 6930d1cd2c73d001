import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.Map;

/**
 * The java-socket agent: classic java.net.Socket and ServerSocket with their streams, blocking,
 * the way most Java programs still talk TCP. connect is Socket.connect(addr, timeout); accept
 * and read wait under setSoTimeout (a SocketTimeoutException is the protocol's timeout); a
 * stream's write returns only when every byte is written, so send is sendall; read's -1 is end
 * of stream. Failures are the exception's class and message; Java exposes no errno. See
 * lab/agents/PROTOCOL.md.
 */
final class SocketAgent extends Protocol {
    @Override
    String runtime() { return "java-socket"; }

    @Override
    Object call(String op, Map<String, Object> cmd, Map<String, Object> ev) throws Exception {
        switch (op) {
            case "listen": {
                ServerSocket l = new ServerSocket();
                sockets.put(str(cmd, "sock", "listener"), l);
                l.setReuseAddress(true);
                setOptions(l, cmd);
                l.bind(wildcard(cmd), num(cmd, "backlog", 16));
                return null;
            }
            case "accept": {
                ServerSocket l = sock(cmd, "listener", "listener", ServerSocket.class);
                l.setSoTimeout((int) timeoutMs(cmd));
                Socket s = l.accept();
                sockets.put(str(cmd, "sock", "conn"), s);
                endpoints(s, ev);
                return null;
            }
            case "connect": {
                if (cmd.get("style") != null) throw new Skipped("connect style " + cmd.get("style") + ": java.net.Socket connects one way");
                Socket s = new Socket();
                sockets.put(str(cmd, "sock", "conn"), s);
                setOptions(s, cmd);
                ev.put("how", "Socket.connect(addr, " + timeoutMs(cmd) + " ms)");
                InetSocketAddress peer = remote(cmd);
                ev.put("peer", Arrays.asList(peer.getAddress().getHostAddress(), peer.getPort()));
                s.connect(peer, (int) timeoutMs(cmd));
                endpoints(s, ev);
                return null;
            }
            case "send": case "sendall": {
                if (Boolean.TRUE.equals(cmd.get("dontwait")))
                    throw new Skipped("a nonblocking send: java.net.Socket has no nonblocking mode; its stream's write() "
                                      + "returns once every byte is written (NioSocketImpl.implWrite parks on EAGAIN)");
                int n = num(cmd, "bytes", "send".equals(op) ? 1 : 0);
                byte[] b = new byte[n];
                Arrays.fill(b, (byte) 'x');
                sock(cmd, "sock", "conn", Socket.class).getOutputStream().write(b);
                return n;
            }
            case "recv": case "recvall": {
                Socket s = sock(cmd, "sock", "conn", Socket.class);
                s.setSoTimeout((int) timeoutMs(cmd));
                InputStream in = s.getInputStream();
                byte[] b = new byte[num(cmd, "bytes", "recv".equals(op) ? 65536 : 0)];
                int got = 0, n = 0;
                try {
                    do {
                        n = in.read(b, got, b.length - got);
                        if (n > 0) got += n;
                    } while ("recvall".equals(op) && n >= 0 && got < b.length);
                } catch (IOException e) {
                    if ("recvall".equals(op)) ev.put("partial", got);
                    throw e;
                }
                if (n < 0) ev.put("words", "-1");   // read()'s end of stream; ret 0 in the protocol
                return got;
            }
            case "shutdown": {
                Socket s = sock(cmd, "sock", "conn", Socket.class);
                String how = str(cmd, "how", "WR");
                if (!how.equals("WR")) s.shutdownInput();
                if (!how.equals("RD")) s.shutdownOutput();
                return null;
            }
            case "close": {
                Object s = sockets.remove(str(cmd, "sock", "conn"));
                if (!(s instanceof java.io.Closeable)) throw new BadCommand("no socket named '" + str(cmd, "sock", "conn") + "'");
                ((java.io.Closeable) s).close();
                return null;
            }
            case "setsockopt":
                setOption(sock(cmd, "sock", "conn", Socket.class), str(cmd, "option", ""), cmd.get("value"));
                return null;
            case "getpeername": {   // Socket keeps the address it connected to: no getpeername() is made
                Socket s = sock(cmd, "sock", "conn", Socket.class);
                ev.put("address", Arrays.asList(s.getInetAddress().getHostAddress(), s.getPort()));
                return null;
            }
            case "so_error": throw new Skipped(SO_ERROR);
            case "state": throw new Skipped("TCP state polling: java.net has no TCP_INFO");
            case "acked": throw new Skipped("unacknowledged bytes: java.net has no SIOCOUTQ");
            default: throw new BadCommand("unknown op '" + op + "'");
        }
    }

    static void endpoints(Socket s, Map<String, Object> ev) throws IOException {
        ev.put("local", Arrays.asList(s.getLocalAddress().getHostAddress(), s.getLocalPort()));
        ev.put("peer", Arrays.asList(s.getInetAddress().getHostAddress(), s.getPort()));
        ev.put("effective", effective(s));
    }

    public static void main(String[] args) throws IOException {
        new SocketAgent().run(args);
    }
}
