/*
 * posix_chain: runs a PhoneCheck redirect chain through the engine's C ABI over POSIX sockets,
 * the loop a firmware author writes over their own network stack: non-blocking sockets,
 * partial writes honoured, poll() over the open connections, the engine's deadlines.
 *
 *   posix_chain URL [--max-send N] [--tx N] [--rx N] [--token T] [--debug]
 *
 *   --max-send N  give send() at most N bytes at a time (forces partial writes)
 *   --tx N        the transmit buffer handed to phonecheck_session_poll (default 256 bytes; a
 *                 smaller one sends a request in several pieces)
 *   --rx N        bytes per recv() (default 97: responses arrive in pieces)
 *   --token T     Authorization: Bearer T to the check URL's origin
 *   --debug       the envelope with the debug object (the hop log)
 *
 * stdout: the JSON envelope. stderr: a line per hop and a result line. Exit status as the
 * phonecheck CLI: 0 when a final HTTP response arrived, 3 sdk_no_data_connectivity,
 * 4 sdk_connection_error, 5 sdk_redirect_error, 6 sdk_error, 7 invalid_scheme, 2 usage,
 * 1 when the C ABI refused a call.
 *
 * Memory: everything the engine uses is static (the `small` profile's areas, two connection
 * slots, an 8-hop log); the engine allocates nothing. Host names resolve with getaddrinfo
 * (IPv4 and IPv6, first address), which is the only allocation here, freed at once.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "phonecheck.h"

#define MAX_CONNS 2
#define TX_MAX 4096

/* What the engine borrows, for the whole check. */
static phonecheck_session session;
static uint8_t url_area[PHONECHECK_SMALL_URL_AREA];
static uint8_t receive_area[PHONECHECK_SMALL_RECEIVE_AREA];
static uint8_t cookie_area[PHONECHECK_SMALL_COOKIE_AREA];
static phonecheck_connection connection_slots[MAX_CONNS];
static phonecheck_hop_slot hop_slots[8];
static uint8_t hop_urls[1024];

/* The driver's side of each connection the engine asked for. */
struct conn {
    int used;
    uint32_t id;
    int fd;
    int connecting;
    uint64_t started_ms;
    uint32_t dns_ms;
};
static struct conn conns[MAX_CONNS];

/* A transmit the socket could not take yet (EAGAIN): kept until it is writable. */
static struct {
    int active;
    uint32_t conn;
    size_t len;
    uint8_t bytes[TX_MAX];
} pending;

static size_t max_send = (size_t)-1;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A C ABI call that must succeed. */
static void must(phonecheck_status st, const char *what) {
    if (st != PHONECHECK_STATUS_OK) {
        fprintf(stderr, "posix_chain: %s: %s\n", what, phonecheck_status_str((uint32_t)st));
        exit(1);
    }
}

static struct conn *find_conn(uint32_t id) {
    for (int i = 0; i < MAX_CONNS; i++) {
        if (conns[i].used && conns[i].id == id) return &conns[i];
    }
    return NULL;
}

static uint32_t transport_error(int err) {
    switch (err) {
    case ECONNREFUSED: return PHONECHECK_TRANSPORT_ERROR_CONNECTION_REFUSED;
    case ETIMEDOUT: return PHONECHECK_TRANSPORT_ERROR_CONNECT_TIMEOUT;
    case ENETUNREACH:
    case EHOSTUNREACH: return PHONECHECK_TRANSPORT_ERROR_NO_ROUTE;
    case ENETDOWN: return PHONECHECK_TRANSPORT_ERROR_NO_DATA_CONNECTIVITY;
    case ECONNRESET:
    case EPIPE: return PHONECHECK_TRANSPORT_ERROR_CONNECTION_RESET;
    default: return PHONECHECK_TRANSPORT_ERROR_OTHER;
    }
}

static void to_addr(const struct sockaddr_storage *ss, phonecheck_addr *out) {
    memset(out, 0, sizeof *out);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        out->family = 4;
        out->port = ntohs(a->sin_port);
        memcpy(out->addr, &a->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        out->family = 6;
        out->port = ntohs(a->sin6_port);
        memcpy(out->addr, &a->sin6_addr, 16);
    }
}

/* The connection is up: tell the engine, with addresses and timings for the trace. */
static void feed_connected(struct conn *c) {
    phonecheck_conn_info info;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&info, 0, sizeof info);
    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == 0) to_addr(&ss, &info.remote);
    len = sizeof ss;
    if (getsockname(c->fd, (struct sockaddr *)&ss, &len) == 0) to_addr(&ss, &info.local);
    info.dns_ms = c->dns_ms;
    uint64_t now = now_ms();
    info.connect_ms = (uint32_t)(now - c->started_ms);
    c->connecting = 0;
    must(phonecheck_session_connected(&session, now, c->id, &info), "connected");
}

/* CONNECT: resolve, then a non-blocking connect. */
static void start_connect(const phonecheck_output *out, const char *host) {
    struct conn *c = NULL;
    for (int i = 0; i < MAX_CONNS; i++) {
        if (!conns[i].used) {
            c = &conns[i];
            break;
        }
    }
    uint64_t t0 = now_ms();
    if (c == NULL) { /* cannot happen: the engine opens at most the slots it was lent */
        must(phonecheck_session_failed(&session, t0, out->conn, PHONECHECK_TRANSPORT_ERROR_OTHER),
             "failed");
        return;
    }
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)out->port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL) {
        must(phonecheck_session_failed(&session, now_ms(), out->conn,
                                       PHONECHECK_TRANSPORT_ERROR_DNS_FAILED),
             "failed");
        return;
    }
    memset(c, 0, sizeof *c);
    c->id = out->conn;
    c->started_ms = now_ms();
    c->dns_ms = (uint32_t)(c->started_ms - t0);
    c->fd = socket(res->ai_family, SOCK_STREAM, 0);
    int err = 0;
    if (c->fd < 0) {
        err = errno;
    } else {
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        /* A request may leave in several small writes (a small tx buffer, a full socket): without
         * TCP_NODELAY, Nagle holds the second one until the server's delayed ACK (~40 ms). */
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS) err = errno;
    }
    freeaddrinfo(res);
    if (err != 0) {
        if (c->fd >= 0) close(c->fd);
        must(phonecheck_session_failed(&session, now_ms(), out->conn, transport_error(err)), "failed");
        return;
    }
    c->used = 1;
    c->connecting = 1; /* poll() says when: writable, or an error */
}

/* Sends what the socket takes of `bytes`; feeds `sent`. 0 when the socket would block. */
static int try_send(struct conn *c, const uint8_t *bytes, size_t len) {
    size_t give = len < max_send ? len : max_send;
    ssize_t n = send(c->fd, bytes, give, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (n < 0) {
        must(phonecheck_session_failed(&session, now_ms(), c->id, transport_error(errno)), "failed");
        return 1;
    }
    must(phonecheck_session_sent(&session, now_ms(), c->id, (size_t)n), "sent");
    return 1;
}

static void print_hop(const phonecheck_output *out, const char *url) {
    const phonecheck_hop *h = &out->hop;
    fprintf(stderr, "hop %u: %u %s%s conn #%u (%s) in %u ms, %llu bytes out, %llu in\n",
            (unsigned)h->hop, (unsigned)h->status, url, out->text_truncated ? "..." : "",
            (unsigned)h->conn, h->reused ? "reused connection" : "new connection",
            h->total_ms == PHONECHECK_NO_TIME ? 0u : (unsigned)h->total_ms,
            (unsigned long long)h->bytes_out, (unsigned long long)h->bytes_in);
}

static int usage(void) {
    fprintf(stderr, "usage: posix_chain URL [--max-send N] [--tx N] [--rx N] [--token T] [--debug]\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *url = NULL, *token = NULL;
    size_t tx_len = 256, rx_len = 97;
    int debug = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--max-send") == 0 && i + 1 < argc) {
            max_send = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--tx") == 0 && i + 1 < argc) {
            tx_len = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--rx") == 0 && i + 1 < argc) {
            rx_len = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) {
            token = argv[++i];
        } else if (strcmp(argv[i], "--debug") == 0) {
            debug = 1;
        } else if (url == NULL && argv[i][0] != '-') {
            url = argv[i];
        } else {
            return usage();
        }
    }
    if (url == NULL || max_send == 0 || tx_len == 0 || tx_len > TX_MAX || rx_len == 0 ||
        rx_len > 65536) {
        return usage();
    }
    must(PHONECHECK_ABI_CHECK(), "header and library disagree (phonecheck_abi_check)");

    phonecheck_config cfg;
    must(phonecheck_config_default(&cfg), "config_default");
    cfg.check_url = url;
    cfg.check_url_len = strlen(url);
    cfg.now_ms = now_ms();
    cfg.url_area = url_area;
    cfg.url_area_len = sizeof url_area;
    cfg.receive_area = receive_area;
    cfg.receive_area_len = sizeof receive_area;
    cfg.cookie_area = cookie_area;
    cfg.cookie_area_len = sizeof cookie_area;
    cfg.connection_area = connection_slots;
    cfg.connection_area_len = sizeof connection_slots;
    cfg.hop_slots = hop_slots;
    cfg.hop_slots_len = sizeof hop_slots;
    cfg.hop_urls = hop_urls;
    cfg.hop_urls_len = sizeof hop_urls;
    cfg.platform = "posix-c";
    cfg.platform_len = strlen(cfg.platform);
    cfg.allow_http_start = 1; /* the loopback servers are plain http */
    cfg.max_connections = MAX_CONNS;
    cfg.total_timeout_ms = 10000;

    char text[PHONECHECK_HOST_BUFFER_SIZE + 256];
    static char envelope[16384];
    size_t needed = 0;
    phonecheck_status st = phonecheck_session_init(&session, sizeof session, &cfg);
    if (st != PHONECHECK_STATUS_OK) {
        phonecheck_session_error_message(&session, text, sizeof text, &needed);
        fprintf(stderr, "posix_chain: init: %s: %s\n", phonecheck_status_str((uint32_t)st), text);
        phonecheck_session_deinit(&session);
        return 1;
    }
    if (token != NULL) {
        must(phonecheck_session_set_access_token(&session, token, strlen(token)), "token");
    }
    /* Cookie Expires dates need the wall clock. */
    must(phonecheck_session_set_wall_clock(&session, now_ms(), (uint64_t)time(NULL)), "wall clock");

    static uint8_t tx[TX_MAX];
    uint8_t *rx = malloc(rx_len);
    if (rx == NULL) return 1;
    phonecheck_output out;
    phonecheck_done done;
    for (;;) {
        /* Drain outputs until WAIT or DONE. */
        uint64_t until = 0;
        int finished = 0;
        while (!finished && until == 0) {
            must(phonecheck_session_poll(&session, tx, tx_len, text, sizeof text, &out), "poll");
            struct conn *c;
            switch (out.kind) {
            case PHONECHECK_OUTPUT_KIND_CONNECT:
                if (out.scheme == PHONECHECK_SCHEME_HTTPS) {
                    /* This driver has no TLS; the engine itself would fail such a hop closed
                     * (TLS not configured) once connected. */
                }
                start_connect(&out, text);
                break;
            case PHONECHECK_OUTPUT_KIND_TRANSMIT:
                c = find_conn(out.conn);
                if (c == NULL) {
                    must(phonecheck_session_failed(&session, now_ms(), out.conn,
                                                   PHONECHECK_TRANSPORT_ERROR_OTHER),
                         "failed");
                } else if (!try_send(c, tx, out.len)) {
                    /* The socket is full: keep the bytes, send them when poll() says so. */
                    pending.active = 1;
                    pending.conn = out.conn;
                    pending.len = out.len;
                    memcpy(pending.bytes, tx, out.len);
                }
                break;
            case PHONECHECK_OUTPUT_KIND_CLOSE:
                c = find_conn(out.conn);
                if (c != NULL) {
                    close(c->fd);
                    c->used = 0;
                }
                if (pending.active && pending.conn == out.conn) pending.active = 0;
                break;
            case PHONECHECK_OUTPUT_KIND_HOP:
                print_hop(&out, text);
                break;
            case PHONECHECK_OUTPUT_KIND_WAIT:
                until = out.until_ms;
                break;
            case PHONECHECK_OUTPUT_KIND_DONE:
                done = out.done;
                finished = 1;
                break;
            }
        }
        if (finished) break;

        /* Wait for the sockets, or the engine's deadline. */
        struct pollfd fds[MAX_CONNS];
        struct conn *which[MAX_CONNS];
        nfds_t n = 0;
        for (int i = 0; i < MAX_CONNS; i++) {
            if (!conns[i].used) continue;
            short ev = POLLIN;
            if (conns[i].connecting) ev = POLLOUT;
            if (pending.active && pending.conn == conns[i].id) ev |= POLLOUT;
            fds[n].fd = conns[i].fd;
            fds[n].events = ev;
            fds[n].revents = 0;
            which[n++] = &conns[i];
        }
        uint64_t now = now_ms();
        int timeout = until > now ? (int)(until - now) : 0;
        int ready = poll(fds, n, timeout);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) {
            must(phonecheck_session_timeout(&session, now_ms()), "timeout");
            continue;
        }
        /* One event per round, then back to draining: the engine wants outputs polled after
         * every input. poll() is level-triggered, so other ready sockets come back. */
        for (nfds_t i = 0; i < n; i++) {
            struct conn *c = which[i];
            short re = fds[i].revents;
            if (re == 0) continue;
            if (c->connecting) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err == 0 && (re & POLLOUT)) {
                    feed_connected(c);
                } else {
                    must(phonecheck_session_failed(&session, now_ms(), c->id,
                                                   transport_error(err ? err : ECONNREFUSED)),
                         "failed");
                }
            } else if (pending.active && pending.conn == c->id && (re & POLLOUT)) {
                if (try_send(c, pending.bytes, pending.len)) pending.active = 0;
            } else if (re & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t got = recv(c->fd, rx, rx_len, 0);
                if (got > 0) {
                    must(phonecheck_session_received(&session, now_ms(), c->id, rx, (size_t)got),
                         "received");
                } else if (got == 0) {
                    must(phonecheck_session_eof(&session, now_ms(), c->id), "eof");
                } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    must(phonecheck_session_failed(&session, now_ms(), c->id, transport_error(errno)),
                         "failed");
                }
            }
            break;
        }
    }
    free(rx);
    for (int i = 0; i < MAX_CONNS; i++) {
        if (conns[i].used) close(conns[i].fd); /* the engine closed them all; just in case */
    }

    /* The result. */
    if (debug) {
        phonecheck_pair info[1] = {{"platform", 8, "posix-c-example", 15}};
        st = phonecheck_session_write_debug_envelope(&session, envelope, sizeof envelope, info, 1,
                                                     &needed);
    } else {
        st = phonecheck_session_write_envelope(&session, envelope, sizeof envelope, &needed);
    }
    must(st, "envelope");
    printf("%s\n", envelope);

    phonecheck_result result;
    must(phonecheck_session_result(&session, &result), "result");
    int status = 0;
    if (done.ok) {
        char code[64] = "";
        if (phonecheck_session_field(&session, PHONECHECK_FIELD_CODE, code, sizeof code, &needed) !=
            PHONECHECK_STATUS_OK) {
            strcpy(code, "(none)");
        }
        fprintf(stderr, "result: http %u after %u hops over %u connections, code %s\n",
                (unsigned)done.http_status, (unsigned)done.hops, (unsigned)result.connections,
                code);
    } else {
        phonecheck_session_error_message(&session, text, sizeof text, &needed);
        fprintf(stderr, "result: %s at hop %u: %s\n",
                phonecheck_error_code_str((uint32_t)done.error_code), (unsigned)result.error_hop,
                text);
        switch (done.error_code) {
        case PHONECHECK_ERROR_CODE_NO_DATA_CONNECTIVITY: status = 3; break;
        case PHONECHECK_ERROR_CODE_CONNECTION_ERROR: status = 4; break;
        case PHONECHECK_ERROR_CODE_REDIRECT_ERROR: status = 5; break;
        case PHONECHECK_ERROR_CODE_INVALID_SCHEME: status = 7; break;
        default: status = 6; break;
        }
    }
    must(phonecheck_session_deinit(&session), "deinit");
    return status;
}
