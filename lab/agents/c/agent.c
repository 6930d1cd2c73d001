/* The c agent: socket calls through libc, one JSON line per call (lab/agents/PROTOCOL.md).
 *
 * Blocking sockets throughout, as a plain C program has them. accept and recv
 * wait with poll() for the command's deadline, then make the blocking call.
 * connect is a blocking connect() bounded by SO_SNDTIMEO (style "blocking",
 * the default) or an O_NONBLOCK connect() + poll() + SO_ERROR (style "poll").
 * Failures are errno's name and strerror(). IPv4 or IPv6 as a C program
 * picks it: listen's `family` (4 or 6), connect's family from the literal
 * (inet_pton AF_INET, then AF_INET6); addresses in sockaddr_storage and
 * inet_ntop's text. A connect to a name is getaddrinfo(3)'s loop: every
 * address getaddrinfo(AF_UNSPEC, SOCK_STREAM) gives, in its order, each on a
 * new socket with the step's deadline, until one connects. JSON is parsed and written by hand: commands and events
 * have small fixed shapes.
 *
 * Build: gcc -O2 -o agent agent.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKS 64
#define TIMED_OUT (-2)    /* an op's return: the deadline passed */
#define NO_ERRNO (-3)     /* an op's return: failed with `words` and no errno (getaddrinfo's EAI_ codes) */

/* tcp_states.h order; TCP_INFO's first byte is one of these. */
static const char *TCP_STATES[] = {"", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
    "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"};

static const struct { const char *name; int level, opt; } OPTIONS[] = {
    {"SO_LINGER", SOL_SOCKET, SO_LINGER}, {"SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE},
    {"SO_RCVBUF", SOL_SOCKET, SO_RCVBUF}, {"SO_SNDBUF", SOL_SOCKET, SO_SNDBUF},
    {"SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR}, {"TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY},
    {"TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT}, {"TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE},
    {"TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL}, {"TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT},
    {"TCP_SYNCNT", IPPROTO_TCP, TCP_SYNCNT}, {"IPV6_V6ONLY", IPPROTO_IPV6, IPV6_V6ONLY}};

static struct { char name[64]; int fd; } socks[MAX_SOCKS];
static char out[1 << 16];   /* the event being written */
static size_t outlen;
static char bad[256];       /* a bad command's message */
static char how[256];       /* how connect was made */
static char words[128];     /* a failure's text where there is no errno */
static long long partial = -1;
static int timeout_errno;   /* what the call itself returned at a kernel deadline (SO_SNDTIMEO) */
static char local_ep[96], peer_ep[96], address_ep[96];
static char effective[512];  /* every option as the kernel has it after connect or accept */

/* getsockopt() of every option in OPTIONS the socket has (IPV6_V6ONLY only on AF_INET6), as a JSON object */
static void effective_of(int fd) {
    size_t n = snprintf(effective, sizeof effective, "{");
    for (size_t i = 0; i < sizeof OPTIONS / sizeof *OPTIONS && n < sizeof effective; i++) {
        const char *sep = n > 1 ? ", " : "";
        if (OPTIONS[i].opt == SO_LINGER) {
            struct linger l = {0, 0};
            socklen_t len = sizeof l;
            getsockopt(fd, OPTIONS[i].level, OPTIONS[i].opt, &l, &len);
            n += snprintf(effective + n, sizeof effective - n, "%s\"%s\": [%d, %d]", sep, OPTIONS[i].name, l.l_onoff, l.l_linger);
        } else {
            int v = 0;
            socklen_t len = sizeof v;
            if (getsockopt(fd, OPTIONS[i].level, OPTIONS[i].opt, &v, &len) < 0) continue;  /* ENOPROTOOPT: not this family's */
            n += snprintf(effective + n, sizeof effective - n, "%s\"%s\": %d", sep, OPTIONS[i].name, v);
        }
    }
    if (n < sizeof effective) snprintf(effective + n, sizeof effective - n, "}");
}

/* ---- JSON in: find a top-level key's value; skip values; read numbers and strings ---- */

static const char *ws(const char *p) { while (*p && isspace((unsigned char)*p)) p++; return p; }

static const char *skip(const char *p) {
    p = ws(p);
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) if (*p == '\\' && p[1]) p++;
        return *p ? p + 1 : p;
    }
    if (*p == '{' || *p == '[') {
        char open = *p, close = open == '{' ? '}' : ']';
        int depth = 0;
        for (; *p; p++) {
            if (*p == '"') { p = skip(p) - 1; continue; }
            if (*p == open) depth++;
            if (*p == close && --depth == 0) return p + 1;
        }
        return p;
    }
    while (*p && *p != ',' && *p != '}' && *p != ']' && !isspace((unsigned char)*p)) p++;
    return p;
}

/* Copy a JSON string (no escapes in our names) at p into buf; 0 if p is not a string. */
static int str_at(const char *p, char *buf, size_t size) {
    p = ws(p);
    if (*p != '"') return 0;
    const char *end = strchr(p + 1, '"');
    if (!end || (size_t)(end - p - 1) >= size) return 0;
    memcpy(buf, p + 1, end - p - 1);
    buf[end - p - 1] = 0;
    return 1;
}

/* The value of `key` in the object at obj, or NULL. */
static const char *get(const char *obj, const char *key) {
    const char *p = ws(obj);
    if (*p != '{') return NULL;
    p = ws(p + 1);
    char name[64];
    while (*p == '"') {
        int found = str_at(p, name, sizeof name) && strcmp(name, key) == 0;
        p = ws(skip(p));
        if (*p != ':') return NULL;
        p = ws(p + 1);
        if (found) return strncmp(p, "null", 4) == 0 ? NULL : p;
        p = ws(skip(p));
        if (*p == ',') p = ws(p + 1);
    }
    return NULL;
}

static double num(const char *obj, const char *key, double dflt) {
    const char *p = get(obj, key);
    return p ? strtod(p, NULL) : dflt;
}

static void text(const char *obj, const char *key, const char *dflt, char *buf, size_t size) {
    const char *p = get(obj, key);
    if (!p || !str_at(p, buf, size)) snprintf(buf, size, "%s", dflt);
}

/* ---- JSON out ---- */

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + outlen, sizeof out - outlen, fmt, ap);
    va_end(ap);
    if (n > 0) outlen += (size_t)n < sizeof out - outlen ? (size_t)n : sizeof out - outlen - 1;
}

static void emit_clocks(const char *key) {
    struct timespec mono, real;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    emit(", \"%s\": {\"mono\": %.9f, \"real\": %.9f}", key, mono.tv_sec + mono.tv_nsec / 1e9,
         real.tv_sec + real.tv_nsec / 1e9);
}

static void flush_line(void) {
    emit("}\n");
    fwrite(out, 1, outlen, stdout);
    fflush(stdout);
    outlen = 0;
}

/* [address, port]: inet_ntop's text (an IPv4 peer of an AF_INET6 socket is ::ffff:a.b.c.d) */
static void endpoint(char *buf, size_t size, const struct sockaddr_storage *a) {
    char ip[INET6_ADDRSTRLEN] = "";
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a;
    if (a->ss_family == AF_INET6) inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
    else inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
    snprintf(buf, size, "[\"%s\", %d]", ip, ntohs(a->ss_family == AF_INET6 ? v6->sin6_port : v4->sin_port));
}

static void local_of(int fd) {
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) == 0) endpoint(local_ep, sizeof local_ep, &a);
}

/* An address literal as a C program parses it: inet_pton AF_INET, then AF_INET6; its sockaddr's length, or 0. */
static socklen_t parse_addr(const char *addr, int port, struct sockaddr_storage *a) {
    struct sockaddr_in *v4 = (struct sockaddr_in *)a;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)a;
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return sizeof *v4;
    }
    if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        return sizeof *v6;
    }
    return 0;
}

/* ---- sockets by name ---- */

static int find(const char *name) {
    for (int i = 0; i < MAX_SOCKS; i++)
        if (socks[i].name[0] && strcmp(socks[i].name, name) == 0) return i;
    return -1;
}

static int sock_fd(const char *cmd, const char *dflt) {
    char name[64];
    text(cmd, "sock", dflt, name, sizeof name);
    int i = find(name);
    if (i < 0) snprintf(bad, sizeof bad, "no socket named '%s'", name);
    return i < 0 ? -1 : socks[i].fd;
}

static void keep(const char *name, int fd) {
    int i = find(name);
    for (int j = 0; i < 0 && j < MAX_SOCKS; j++) if (!socks[j].name[0]) i = j;
    if (i < 0) { snprintf(bad, sizeof bad, "more than %d sockets", MAX_SOCKS); return; }
    snprintf(socks[i].name, sizeof socks[i].name, "%s", name);
    socks[i].fd = fd;
}

static int set_option(int fd, const char *name, const char *value) {
    for (size_t i = 0; i < sizeof OPTIONS / sizeof *OPTIONS; i++) {
        if (strcmp(OPTIONS[i].name, name) != 0) continue;
        if (OPTIONS[i].opt == SO_LINGER) {
            struct linger l = {0, 0};
            const char *p = ws(value);
            if (*p == '[') { l.l_onoff = (int)strtol(p + 1, (char **)&p, 10); l.l_linger = (int)strtol(ws(p) + 1, NULL, 10); }
            return setsockopt(fd, OPTIONS[i].level, OPTIONS[i].opt, &l, sizeof l);
        }
        const char *p = ws(value);
        int v = *p == 't' ? 1 : *p == 'f' ? 0 : (int)strtol(p, NULL, 10);   /* IPV6_V6ONLY is a JSON bool */
        return setsockopt(fd, OPTIONS[i].level, OPTIONS[i].opt, &v, sizeof v);
    }
    snprintf(bad, sizeof bad, "unknown socket option '%s'", name);
    return -1;
}

static int set_options(int fd, const char *cmd) {
    const char *p = get(cmd, "options");
    if (!p || *p != '{') return 0;
    char name[64];
    for (p = ws(p + 1); *p == '"'; ) {
        str_at(p, name, sizeof name);
        p = ws(ws(skip(p)) + 1);
        if (set_option(fd, name, p) < 0) return -1;
        p = ws(skip(p));
        if (*p == ',') p = ws(p + 1);
    }
    return 0;
}

/* Wait until fd is ready for `events` or the deadline; TIMED_OUT if it passed. */
static int wait_for(int fd, short events, double timeout) {
    if (timeout < 0) return 0;
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, (int)(timeout * 1000));
    return n == 0 ? TIMED_OUT : n < 0 ? -1 : 0;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* ---- the calls: each returns >= 0 (ret), -1 (errno or a bad command) or TIMED_OUT; `ret` is printed by the caller ---- */

static long long op_listen(const char *cmd) {
    char name[64];
    text(cmd, "sock", "listener", name, sizeof name);
    int family = (int)num(cmd, "family", 4), one = 1;
    if (family != 4 && family != 6) { snprintf(bad, sizeof bad, "family %d: 4 or 6", family); return -1; }
    struct sockaddr_storage a;   /* 0.0.0.0:port or [::]:port */
    socklen_t len = parse_addr(family == 6 ? "::" : "0.0.0.0", (int)num(cmd, "port", 0), &a);
    int fd = socket(a.ss_family, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    keep(name, fd);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 || set_options(fd, cmd) < 0 ||
        bind(fd, (struct sockaddr *)&a, len) < 0)
        return -1;
    return listen(fd, (int)num(cmd, "backlog", 16));
}

static long long op_accept(const char *cmd) {
    char name[64], listener[64];
    text(cmd, "sock", "conn", name, sizeof name);
    text(cmd, "listener", "listener", listener, sizeof listener);
    int i = find(listener);
    if (i < 0) { snprintf(bad, sizeof bad, "no socket named '%s'", listener); return -1; }
    int w = wait_for(socks[i].fd, POLLIN, num(cmd, "timeout", -1));
    if (w) return w;
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int fd = accept(socks[i].fd, (struct sockaddr *)&peer, &len);
    if (fd < 0) return -1;
    keep(name, fd);
    local_of(fd);
    effective_of(fd);
    endpoint(peer_ep, sizeof peer_ep, &peer);   /* accept's own address: a reset peer has no getpeername() */
    return 0;
}

static long long connect_blocking(int fd, const struct sockaddr_storage *a, socklen_t alen, double timeout) {
    struct timeval tv = {(time_t)timeout, (suseconds_t)((timeout - (time_t)timeout) * 1e6)}, zero = {0, 0};
    snprintf(how, sizeof how, timeout > 0 ? "blocking connect(), SO_SNDTIMEO %gs" : "blocking connect()", timeout);
    if (timeout > 0) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int rc = connect(fd, (const struct sockaddr *)a, alen), saved = errno;
    if (timeout > 0) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof zero);
    errno = saved;
    if (rc < 0 && errno == EINPROGRESS && timeout > 0) {
        timeout_errno = EINPROGRESS;   /* Linux's answer when SO_SNDTIMEO ends a blocking connect */
        return TIMED_OUT;
    }
    return rc;
}

static long long connect_poll(int fd, const struct sockaddr_storage *a, socklen_t alen, double timeout) {
    snprintf(how, sizeof how, "O_NONBLOCK connect(), poll() %gs, SO_ERROR", timeout);
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = connect(fd, (const struct sockaddr *)a, alen);
    if (rc < 0 && errno == EINPROGRESS) {
        rc = wait_for(fd, POLLOUT, timeout);
        int err = 0;
        socklen_t len = sizeof err;
        if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err) { errno = err; rc = -1; }
    }
    int saved = errno;
    fcntl(fd, F_SETFL, flags);
    errno = saved;
    return rc;
}

/* One attempt: a new socket of a's family, `options`, connect in `style` with the deadline. */
static long long connect_one(const char *cmd, const char *name, const char *style,
                             const struct sockaddr_storage *a, socklen_t alen, int *fdp) {
    int fd = *fdp = socket(a->ss_family, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    keep(name, fd);
    if (set_options(fd, cmd) < 0) return -1;
    double timeout = num(cmd, "timeout", -1);
    if (strcmp(style, "blocking") == 0) return connect_blocking(fd, a, alen, timeout);
    if (strcmp(style, "poll") == 0) return connect_poll(fd, a, alen, timeout);
    snprintf(bad, sizeof bad, "unknown connect style '%s' (blocking, poll)", style);
    return -1;
}

/* A literal is its one address; a name is getaddrinfo(3)'s client loop: each address in
 * getaddrinfo's order on a new socket, a failed one closed, until one connects. The last
 * failure is the call's, and its socket is kept (as a failed connect's socket always is here). */
static long long op_connect(const char *cmd) {
    char name[64], addr[256], style[32], service[16];
    text(cmd, "sock", "conn", name, sizeof name);
    text(cmd, "addr", "", addr, sizeof addr);
    text(cmd, "style", "blocking", style, sizeof style);
    int port = (int)num(cmd, "port", 0);
    struct sockaddr_storage literal, a;
    socklen_t alen = parse_addr(addr, port, &literal);
    struct addrinfo hints = {0}, *res = NULL, one = {0};
    if (alen) {
        one.ai_addr = (struct sockaddr *)&literal;
        one.ai_addrlen = alen;
        res = &one;
    } else {
        if (!addr[0]) { snprintf(bad, sizeof bad, "no addr"); return -1; }
        hints.ai_family = AF_UNSPEC;   /* the man page's client: AF_UNSPEC, SOCK_STREAM, no flags */
        hints.ai_socktype = SOCK_STREAM;
        snprintf(service, sizeof service, "%d", port);
        int gai = getaddrinfo(addr, service, &hints, &res);
        if (gai == EAI_SYSTEM) return -1;
        if (gai) { snprintf(words, sizeof words, "getaddrinfo: %s", gai_strerror(gai)); return NO_ERRNO; }
    }
    long long rc = -1;
    int tried = 0, fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (tried++ && fd >= 0) close(fd);   /* the last attempt failed: close it and go on */
        memset(&a, 0, sizeof a);
        memcpy(&a, ai->ai_addr, ai->ai_addrlen);
        alen = ai->ai_addrlen;
        rc = connect_one(cmd, name, style, &a, alen, &fd);
        saved = errno;
        if (rc == 0 || bad[0]) break;
    }
    if (res != &one) {
        freeaddrinfo(res);
        char each[160];
        snprintf(each, sizeof each, "%.150s", how);
        snprintf(how, sizeof how, "getaddrinfo(AF_UNSPEC, SOCK_STREAM) loop, address %d: %s", tried, each);
    }
    if (fd >= 0) local_of(fd);   /* a failed connect still had a local port: the packets that explain it use it */
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    if (rc == 0 && getpeername(fd, (struct sockaddr *)&peer, &len) == 0) endpoint(peer_ep, sizeof peer_ep, &peer);
    else endpoint(peer_ep, sizeof peer_ep, &a);
    if (rc == 0) effective_of(fd);
    errno = saved;
    return rc;
}

static long long send_all(int fd, long long total, int once, int flags) {
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    long long sent = 0;
    do {
        size_t n = total - sent < (long long)sizeof chunk ? (size_t)(total - sent) : sizeof chunk;
        ssize_t rc = send(fd, chunk, n, flags);
        if (rc < 0) { if (!once) partial = sent; return -1; }
        sent += rc;
    } while (!once && sent < total);
    return sent;
}

static long long op_send(const char *cmd) {
    int fd = sock_fd(cmd, "conn");
    const char *dontwait = get(cmd, "dontwait");   /* MSG_DONTWAIT: EAGAIN where a blocking send() would wait */
    return fd < 0 ? -1 : send_all(fd, (long long)num(cmd, "bytes", 1), 1, dontwait && *dontwait == 't' ? MSG_DONTWAIT : 0);
}

static long long op_sendall(const char *cmd) {
    int fd = sock_fd(cmd, "conn");
    return fd < 0 ? -1 : send_all(fd, (long long)num(cmd, "bytes", 0), 0, 0);
}

static long long op_recv(const char *cmd) {
    static char buf[1 << 20];
    int fd = sock_fd(cmd, "conn");
    if (fd < 0) return -1;
    int w = wait_for(fd, POLLIN, num(cmd, "timeout", -1));
    if (w) return w;
    size_t want = (size_t)num(cmd, "bytes", 65536);
    return recv(fd, buf, want < sizeof buf ? want : sizeof buf, 0);
}

static long long op_recvall(const char *cmd) {
    static char buf[1 << 20];
    int fd = sock_fd(cmd, "conn");
    if (fd < 0) return -1;
    long long total = (long long)num(cmd, "bytes", 0), got = 0;
    double timeout = num(cmd, "timeout", -1), deadline = now() + timeout;
    while (got < total) {
        int w = wait_for(fd, POLLIN, timeout < 0 ? -1 : deadline - now() > 0 ? deadline - now() : 0);
        ssize_t n = w ? w : recv(fd, buf, total - got < (long long)sizeof buf ? (size_t)(total - got) : sizeof buf, 0);
        if (n < 0) { partial = got; return n; }
        if (n == 0) break;
        got += n;
    }
    return got;
}

static long long op_shutdown(const char *cmd) {
    char h[8];
    text(cmd, "how", "WR", h, sizeof h);
    int fd = sock_fd(cmd, "conn");
    int mode = strcmp(h, "RD") == 0 ? SHUT_RD : strcmp(h, "RDWR") == 0 ? SHUT_RDWR : SHUT_WR;
    return fd < 0 ? -1 : shutdown(fd, mode);
}

static long long op_close(const char *cmd) {
    char name[64];
    text(cmd, "sock", "conn", name, sizeof name);
    int i = find(name);
    if (i < 0) { snprintf(bad, sizeof bad, "no socket named '%s'", name); return -1; }
    socks[i].name[0] = 0;
    return close(socks[i].fd);
}

static long long op_setsockopt(const char *cmd) {
    char option[64];
    text(cmd, "option", "", option, sizeof option);
    int fd = sock_fd(cmd, "conn");
    const char *value = get(cmd, "value");
    return fd < 0 ? -1 : set_option(fd, option, value ? value : "0");
}

static char state_name[16];

static long long op_state(const char *cmd) {
    int fd = sock_fd(cmd, "conn");
    if (fd < 0) return -1;
    double deadline = now() + num(cmd, "timeout", 5.0);
    for (;;) {
        struct tcp_info info;
        socklen_t len = sizeof info;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0) return -1;
        snprintf(state_name, sizeof state_name, "%s", info.tcpi_state < 13 ? TCP_STATES[info.tcpi_state] : "?");
        const char *want = get(cmd, "want");
        char quoted[20];
        snprintf(quoted, sizeof quoted, "\"%s\"", state_name);
        if (want && strstr(want, quoted) && strstr(want, quoted) < skip(want)) return 0;
        if (now() > deadline) return TIMED_OUT;
        usleep(2000);
    }
}

static long long op_acked(const char *cmd) {
    int fd = sock_fd(cmd, "conn");
    if (fd < 0) return -1;
    double deadline = now() + num(cmd, "timeout", 5.0);
    int unacked = 0;
    for (;;) {
        if (ioctl(fd, SIOCOUTQ, &unacked) < 0) return -1;
        if (unacked == 0) return 0;
        if (now() > deadline) return TIMED_OUT;
        usleep(2000);
    }
}

static long long op_getpeername(const char *cmd) {
    int fd = sock_fd(cmd, "conn");
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&a, &len) < 0) return -1;
    endpoint(address_ep, sizeof address_ep, &a);
    return 0;
}

static char so_error_name[32];   /* the pending error's name, "" for none */

/* getsockopt(SO_ERROR): the kernel hands over sk_err and clears it (sock_error(): xchg) */
static long long op_so_error(const char *cmd) {
    int fd = sock_fd(cmd, "conn"), err = 0;
    socklen_t len = sizeof err;
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -1;
    snprintf(so_error_name, sizeof so_error_name, "%s", err ? strerrorname_np(err) : "");
    return 0;
}

static const struct { const char *name; long long (*call)(const char *); int returns_nothing; } OPS[] = {
    {"listen", op_listen, 1}, {"accept", op_accept, 1}, {"connect", op_connect, 1}, {"send", op_send, 0},
    {"sendall", op_sendall, 0}, {"recv", op_recv, 0}, {"recvall", op_recvall, 0}, {"shutdown", op_shutdown, 1},
    {"close", op_close, 1}, {"setsockopt", op_setsockopt, 1}, {"state", op_state, 0}, {"acked", op_acked, 0},
    {"getpeername", op_getpeername, 1}, {"so_error", op_so_error, 0}};

static void handle(const char *line) {
    char op[32], sock[64], id[32] = "null";
    const char *idp = get(line, "id");
    if (idp) snprintf(id, sizeof id, "%.*s", (int)(skip(idp) - idp), idp);
    text(line, "op", "", op, sizeof op);
    emit("{\"id\": %s, \"op\": \"%s\"", id, op);
    if (get(line, "sock")) { text(line, "sock", "", sock, sizeof sock); emit(", \"sock\": \"%s\"", sock); }
    else emit(", \"sock\": null");
    emit_clocks("start");
    if (strcmp(op, "exit") == 0) {
        emit(", \"ret\": null");
        emit_clocks("end");
        flush_line();
        _exit(0);   /* without closing anything: the kernel closes our sockets as for a crashed program */
    }
    bad[0] = how[0] = words[0] = local_ep[0] = peer_ep[0] = address_ep[0] = effective[0] = 0;
    partial = -1;
    timeout_errno = 0;
    long long rc = -1;
    int i, saved;
    for (i = 0; i < (int)(sizeof OPS / sizeof *OPS); i++)
        if (strcmp(OPS[i].name, op) == 0) break;
    if (i == (int)(sizeof OPS / sizeof *OPS)) snprintf(bad, sizeof bad, "unknown op '%s'", op);
    else rc = OPS[i].call(line);
    saved = errno;
    if (bad[0]) emit(", \"error\": \"%s\"", bad);
    else if (rc == TIMED_OUT) {
        emit(", \"timeout\": %g", num(line, "timeout", 0));
        if (timeout_errno) emit(", \"errno\": \"%s\", \"words\": \"%s\"", strerrorname_np(timeout_errno), strerror(timeout_errno));
    } else if (rc == NO_ERRNO) emit(", \"words\": \"%s\"", words);
    else if (rc < 0) {
        emit(", \"errno\": \"%s\", \"strerror\": \"%s\", \"words\": \"%s\"", strerrorname_np(saved), strerror(saved),
             strerror(saved));
    } else if (strcmp(op, "state") == 0) emit(", \"ret\": \"%s\"", state_name);
    else if (strcmp(op, "so_error") == 0 && so_error_name[0]) emit(", \"ret\": \"%s\"", so_error_name);
    else if (OPS[i].returns_nothing) emit(", \"ret\": null");
    else emit(", \"ret\": %lld", rc);
    if (partial >= 0) emit(", \"partial\": %lld", partial);
    if (how[0]) emit(", \"how\": \"%s\"", how);
    if (local_ep[0]) emit(", \"local\": %s", local_ep);
    if (peer_ep[0]) emit(", \"peer\": %s", peer_ep);
    if (address_ep[0]) emit(", \"address\": %s", address_ep);
    if (effective[0]) emit(", \"effective\": %s", effective);
    emit_clocks("end");
    flush_line();
}

int main(int argc, char **argv) {
    const char *sigpipe = "default";   /* C's own start-up disposition */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sigpipe=ignore") == 0) { signal(SIGPIPE, SIG_IGN); sigpipe = "ignore"; }
        if (strcmp(argv[i], "--sigpipe=default") == 0) { signal(SIGPIPE, SIG_DFL); sigpipe = "default"; }
    }
    emit("{\"op\": \"hello\", \"pid\": %d, \"runtime\": \"c\", \"version\": \"glibc %s, gcc %s\", \"sigpipe\": \"%s\"",
         getpid(), gnu_get_libc_version(), __VERSION__, sigpipe);
    emit_clocks("start");
    flush_line();
    static char line[1 << 16];
    while (fgets(line, sizeof line, stdin)) {
        if (*ws(line)) handle(line);
    }
    return 0;
}
