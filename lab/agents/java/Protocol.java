import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.InterruptedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketOption;
import java.net.StandardSocketOptions;
import java.nio.channels.NetworkChannel;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdk.net.ExtendedSocketOptions;

/**
 * The line protocol's side that the two Java agents share (lab/agents/PROTOCOL.md): JSON in and
 * out (the JDK has no JSON; commands and events are small), clocks, socket options, and the
 * command loop that turns each call's result or exception into one event. NioAgent and
 * SocketAgent make the calls.
 *
 * Build: javac -d OUT Protocol.java NioAgent.java (or SocketAgent.java); run: java -cp OUT NioAgent
 */
abstract class Protocol {
    /** The runtime has no API for the call or argument. */
    static final class Skipped extends Exception {
        Skipped(String what) { super(what); }
    }

    /** A bad command: unknown op, no such socket. */
    static final class BadCommand extends Exception {
        BadCommand(String what) { super(what); }
    }

    /** The agent's own wait (a select) passed its deadline. */
    static final class TimedOut extends Exception {}

    final Map<String, Object> sockets = new HashMap<>();

    /** SO_ERROR is no option Java names: getOption takes StandardSocketOptions and jdk.net.ExtendedSocketOptions. */
    static final String SO_ERROR = "SO_ERROR: java.net has no socket option for it (StandardSocketOptions, "
                                   + "jdk.net.ExtendedSocketOptions); the JDK reads it only inside finishConnect (Net.pollConnect)";

    abstract String runtime();

    /** Make the call `op`; return its ret (extras go into ev), or throw. */
    abstract Object call(String op, Map<String, Object> cmd, Map<String, Object> ev) throws Exception;

    // ---- commands ----

    static String str(Map<String, Object> cmd, String key, String dflt) {
        Object v = cmd.get(key);
        return v == null ? dflt : (String) v;
    }

    static int num(Map<String, Object> cmd, String key, int dflt) {
        Object v = cmd.get(key);
        return v == null ? dflt : ((Number) v).intValue();
    }

    /** The command's timeout in ms for setSoTimeout/select: 0 is none (forever), never 0 for a short one. */
    static long timeoutMs(Map<String, Object> cmd) {
        Object v = cmd.get("timeout");
        return v == null ? 0 : Math.max(1, Math.round(((Number) v).doubleValue() * 1000));
    }

    <T> T sock(Map<String, Object> cmd, String key, String dflt, Class<T> type) throws BadCommand {
        String name = str(cmd, key, dflt);
        Object s = sockets.get(name);
        if (!type.isInstance(s)) throw new BadCommand("no socket named '" + name + "'");
        return type.cast(s);
    }

    // ---- addresses: as a Java program names them ----

    /** listen's 0.0.0.0:port (family 4) or [::]:port (family 6). The JDK opens an AF_INET6 socket either
     *  way and binds 0.0.0.0 as :: (Net.socket0, NET_InetAddressToSockaddr): both are one dual-stack listener. */
    static InetSocketAddress wildcard(Map<String, Object> cmd) throws Exception {
        int family = num(cmd, "family", 4);
        if (family != 4 && family != 6) throw new BadCommand("family " + family + ": 4 or 6");
        return new InetSocketAddress(InetAddress.getByName(family == 6 ? "::" : "0.0.0.0"), num(cmd, "port", 0));
    }

    /** connect's addr:port: InetAddress.getByName parses an IPv4 or IPv6 literal (no lookup). */
    static InetSocketAddress remote(Map<String, Object> cmd) throws IOException {
        return new InetSocketAddress(InetAddress.getByName(str(cmd, "addr", "")), num(cmd, "port", 0));
    }

    // ---- socket options: java.net's own where it has one, SKIPPED where it has none ----

    static void setOptions(Object target, Map<String, Object> cmd) throws Exception {
        @SuppressWarnings("unchecked")
        Map<String, Object> options = (Map<String, Object>) cmd.getOrDefault("options", Map.of());
        for (Map.Entry<String, Object> o : options.entrySet()) setOption(target, o.getKey(), o.getValue());
    }

    static void setOption(Object target, String name, Object value) throws Exception {
        int v = value instanceof Number ? ((Number) value).intValue() : 0;
        switch (name) {
            case "SO_LINGER": {
                List<?> l = (List<?>) value;
                set(target, StandardSocketOptions.SO_LINGER, ((Number) l.get(0)).intValue() != 0 ? ((Number) l.get(1)).intValue() : -1);
                break;
            }
            case "SO_KEEPALIVE": set(target, StandardSocketOptions.SO_KEEPALIVE, v != 0); break;
            case "SO_RCVBUF": set(target, StandardSocketOptions.SO_RCVBUF, v); break;
            case "SO_SNDBUF": set(target, StandardSocketOptions.SO_SNDBUF, v); break;
            case "SO_REUSEADDR": set(target, StandardSocketOptions.SO_REUSEADDR, v != 0); break;
            case "TCP_NODELAY": set(target, StandardSocketOptions.TCP_NODELAY, v != 0); break;
            case "TCP_KEEPIDLE": set(target, ExtendedSocketOptions.TCP_KEEPIDLE, v); break;
            case "TCP_KEEPINTVL": set(target, ExtendedSocketOptions.TCP_KEEPINTERVAL, v); break;
            case "TCP_KEEPCNT": set(target, ExtendedSocketOptions.TCP_KEEPCOUNT, v); break;
            case "TCP_USER_TIMEOUT": case "TCP_SYNCNT":
                throw new Skipped(name + ": java.net has no socket option for it");
            case "IPV6_V6ONLY":   // off is what the JDK sets on every AF_INET6 socket it opens (Net.c socket0)
                if (Boolean.TRUE.equals(value) || v != 0)
                    throw new Skipped("IPV6_V6ONLY: java.net has no socket option for it (StandardSocketOptions, "
                                      + "jdk.net.ExtendedSocketOptions); the JDK turns it off on every AF_INET6 socket (Net.c socket0)");
                break;
            default: throw new BadCommand("unknown socket option '" + name + "'");
        }
    }

    static <T> void set(Object target, SocketOption<T> option, T value) throws IOException {
        if (target instanceof NetworkChannel) ((NetworkChannel) target).setOption(option, value);
        else if (target instanceof Socket) ((Socket) target).setOption(option, value);
        else ((ServerSocket) target).setOption(option, value);
    }

    /** Every option Java can read back, as the kernel has it after connect or accept (getOption). */
    static Map<String, Object> effective(Object target) throws IOException {
        Map<String, Object> e = new LinkedHashMap<>();
        int linger = get(target, StandardSocketOptions.SO_LINGER);
        e.put("SO_LINGER", List.of(linger >= 0 ? 1 : 0, Math.max(linger, 0)));
        e.put("SO_KEEPALIVE", get(target, StandardSocketOptions.SO_KEEPALIVE) ? 1 : 0);
        e.put("SO_RCVBUF", get(target, StandardSocketOptions.SO_RCVBUF));
        e.put("SO_SNDBUF", get(target, StandardSocketOptions.SO_SNDBUF));
        e.put("SO_REUSEADDR", get(target, StandardSocketOptions.SO_REUSEADDR) ? 1 : 0);
        e.put("TCP_NODELAY", get(target, StandardSocketOptions.TCP_NODELAY) ? 1 : 0);
        e.put("TCP_KEEPIDLE", get(target, ExtendedSocketOptions.TCP_KEEPIDLE));
        e.put("TCP_KEEPINTVL", get(target, ExtendedSocketOptions.TCP_KEEPINTERVAL));
        e.put("TCP_KEEPCNT", get(target, ExtendedSocketOptions.TCP_KEEPCOUNT));
        return e;
    }

    static <T> T get(Object target, SocketOption<T> option) throws IOException {
        return target instanceof NetworkChannel ? ((NetworkChannel) target).getOption(option)
                                                : ((Socket) target).getOption(option);
    }

    // ---- events ----

    static Map<String, Object> clocks() {
        Instant now = Instant.now();
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("mono", System.nanoTime() / 1e9);   // CLOCK_MONOTONIC on Linux
        c.put("real", now.getEpochSecond() + now.getNano() / 1e9);
        return c;
    }

    Map<String, Object> handle(Map<String, Object> cmd) {
        Map<String, Object> ev = new LinkedHashMap<>();
        String op = str(cmd, "op", "");
        ev.put("id", cmd.get("id"));
        ev.put("op", op);
        ev.put("sock", cmd.get("sock"));
        ev.put("start", clocks());
        try {
            ev.put("ret", call(op, cmd, ev));
        } catch (BadCommand e) {
            ev.put("error", e.getMessage());
        } catch (Skipped e) {
            ev.put("skipped", e.getMessage());
        } catch (TimedOut e) {
            ev.put("timeout", cmd.get("timeout"));
        } catch (InterruptedIOException e) {   // SocketTimeoutException: the runtime's own deadline
            ev.put("timeout", cmd.get("timeout"));
            ev.put("words", e.toString());
        } catch (IOException | IllegalStateException | IllegalArgumentException e) {
            ev.put("words", e.toString());   // class and message, as a stack trace's first line shows them
        } catch (Exception e) {
            ev.put("error", e.toString());
        }
        ev.put("end", clocks());
        return ev;
    }

    void run(String[] args) throws IOException {
        Map<String, Object> hello = new LinkedHashMap<>();
        hello.put("op", "hello");
        hello.put("pid", ProcessHandle.current().pid());
        hello.put("runtime", runtime());
        hello.put("version", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
        hello.put("sigpipe", "ignore");
        if (List.of(args).contains("--sigpipe=default"))
            hello.put("skipped", "--sigpipe=default: the JVM installs its own SIGPIPE handler and offers no SIG_DFL");
        hello.put("start", clocks());
        System.out.println(json(hello));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            if (line.isBlank()) continue;
            @SuppressWarnings("unchecked")
            Map<String, Object> cmd = (Map<String, Object>) new Json(line).value();
            if ("exit".equals(cmd.get("op"))) {
                Map<String, Object> ev = new LinkedHashMap<>(Map.of("op", "exit"));
                ev.put("id", cmd.get("id"));
                ev.put("ret", null);
                ev.put("start", clocks());
                ev.put("end", clocks());
                System.out.println(json(ev));
                System.out.flush();
                Runtime.getRuntime().halt(0);   // without closing anything: the kernel closes our sockets as for a crash
            }
            System.out.println(json(handle(cmd)));
            System.out.flush();
        }
    }

    // ---- JSON ----

    static String json(Object o) {
        if (o == null) return "null";
        if (o instanceof Double && (Double) o == Math.rint((Double) o) && Math.abs((Double) o) < 1e15)
            return Long.toString(((Double) o).longValue());   // a command's 7 comes back as 7, not 7.0
        if (o instanceof Number || o instanceof Boolean) return o.toString();
        if (o instanceof List) {
            List<String> parts = new ArrayList<>();
            for (Object x : (List<?>) o) parts.add(json(x));
            return "[" + String.join(", ", parts) + "]";
        }
        if (o instanceof Map) {
            List<String> parts = new ArrayList<>();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) o).entrySet()) parts.add(json(e.getKey().toString()) + ": " + json(e.getValue()));
            return "{" + String.join(", ", parts) + "}";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char c : o.toString().toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    /** A JSON reader for the commands: objects, arrays, strings (simple escapes), numbers, literals. */
    static final class Json {
        private final String s;
        private int i;

        Json(String s) { this.s = s; }

        Object value() {
            skipSpace();
            char c = s.charAt(i);
            if (c == '{') {
                Map<String, Object> m = new LinkedHashMap<>();
                i++;
                while (skipSpace() != '}') {
                    String key = (String) value();
                    skipSpace();
                    i++;   // ':'
                    m.put(key, value());
                    if (skipSpace() == ',') i++;
                }
                i++;
                return m;
            }
            if (c == '[') {
                List<Object> l = new ArrayList<>();
                i++;
                while (skipSpace() != ']') {
                    l.add(value());
                    if (skipSpace() == ',') i++;
                }
                i++;
                return l;
            }
            if (c == '"') {
                StringBuilder b = new StringBuilder();
                for (i++; s.charAt(i) != '"'; i++) b.append(s.charAt(i) == '\\' ? s.charAt(++i) : s.charAt(i));
                i++;
                return b.toString();
            }
            int start = i;
            while (i < s.length() && ",}] \t".indexOf(s.charAt(i)) < 0) i++;
            String word = s.substring(start, i);
            switch (word) {
                case "null": return null;
                case "true": return true;
                case "false": return false;
                default: return Double.parseDouble(word);
            }
        }

        private char skipSpace() {
            while (Character.isWhitespace(s.charAt(i))) i++;
            return s.charAt(i);
        }
    }
}
