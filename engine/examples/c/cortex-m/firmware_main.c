/*
 * The engine's C ABI on a Cortex-M4F (QEMU mps2-an386): a C `main` that runs a scripted
 * PhoneCheck redirect chain through phonecheck.h, with every byte of memory static, and reports
 * over semihosting. The script is engine/examples/bare-metal's (five requests, two origins, three
 * connections over the `small` profile's single slot, cookies, chunked bodies), so the figures
 * compare with the Rust example's:
 *
 *   1 GET http://api.example/one        302 -> /two              Set-Cookie s=1, 3-byte body
 *   2 GET http://api.example/two        302 -> http://mno.example/three?x=1   chunked body
 *   3 GET http://mno.example/three?x=1  307 -> ../four           Set-Cookie m=2 (Expires 2031)
 *   4 GET http://mno.example/four       302 -> http://api.example/five, Connection: close
 *   5 GET http://api.example/five       200 application/json, chunked: {"check_id":"c1",...}
 *
 * Responses arrive in 40-byte pieces and the "socket" takes 7 bytes less than each TRANSMIT
 * offers, through a 96-byte transmit buffer, as on a slow modem. Time is a fake clock.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "phonecheck.h"
#include "semihosting.h"

/* ---- The memory the C user provides: the session and the `small` profile's storage. ---- */
static phonecheck_session session;
static uint8_t url_area[PHONECHECK_SMALL_URL_AREA];
static uint8_t receive_area[PHONECHECK_SMALL_RECEIVE_AREA];
static uint8_t cookie_area[PHONECHECK_SMALL_COOKIE_AREA];
static phonecheck_connection connection_slots[PHONECHECK_SMALL_CONNECTIONS];
/* Optional: a hop log for the debug envelope, and the envelope itself. */
static phonecheck_hop_slot hop_slots[8];
static uint8_t hop_urls[512];
static char envelope[4096];
/* The harness: one request as the socket took it, to check its headers. */
static uint8_t request[512];

static const char CHECK_URL[] = "http://api.example/one";
static const char TOKEN[] = "sk-test-0123456789abcdef";
static const char REDIRECT_URL[] = "https://app.example/phonecheck/done"; /* never reached */
static const char PLATFORM[] = "cortex-m-c";
#define UNIX_AT_START 1767225600u /* 2026-01-01T00:00:00Z */

static const char *const REPLIES[5] = {
    "HTTP/1.1 302 Found\r\nLocation: /two\r\nSet-Cookie: s=1; Path=/\r\nContent-Length: 3\r\n\r\nabc",
    "HTTP/1.1 302 Found\r\nLocation: http://mno.example/three?x=1\r\nTransfer-Encoding: "
    "chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\n\r\n",
    "HTTP/1.1 307 Temporary Redirect\r\nLocation: ../four\r\nSet-Cookie: m=2; Expires=Wed, 01 "
    "Jan 2031 00:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 302 Found\r\nLocation: http://api.example/five\r\nConnection: close\r\n"
    "Content-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    "11\r\n{\"check_id\":\"c1\",\r\n18\r\n\"code\":\"4711\",\"ttl\":300}\r\n0\r\n\r\n",
};

/* Headers each request must (1) or must not (0) carry. */
struct expect {
    int present;
    const char *text;
};
static const struct expect EXPECT[5][3] = {
    {{1, "\r\nAuthorization: Bearer sk-test-0123456789abcdef\r\n"}, {0, "\r\nCookie:"}, {1, ""}},
    {{1, "\r\nCookie: s=1\r\n"}, {1, ""}, {1, ""}},
    {{0, "\r\nAuthorization:"}, {0, "\r\nCookie:"}, {1, ""}},
    {{1, "\r\nCookie: m=2\r\n"}, {1, ""}, {1, ""}},
    {{1, "GET /five HTTP/1.1\r\nHost: api.example\r\n"}, {1, "\r\nCookie: s=1\r\n"}, {1, ""}},
};

#define PIECE 40u
#define PAINT 0xC5ACCE55u

extern uint32_t _ebss, _stack_top;

static int failures;

static void check(int ok, const char *what) {
    if (!ok) {
        sh_puts("FAIL: ");
        sh_puts(what);
        sh_puts("\n");
        failures++;
    }
}

static const char *num(uint32_t v) {
    static char buf[12];
    char *p = buf + sizeof buf - 1;
    *p = 0;
    do {
        *--p = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    return p;
}

static void put_num(const char *label, uint32_t v) {
    sh_puts(label);
    sh_puts(num(v));
}

static int contains(const uint8_t *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    if (m == 0) return 1;
    for (size_t i = 0; i + m <= n; i++) {
        if (memcmp(hay + i, needle, m) == 0) return 1;
    }
    return 0;
}

/* Stack painting: fill the free stack (end of .bss up to below the current frame) with PAINT;
 * later, the deepest word that lost it tells how deep the stack went. No interrupts run. */
static void __attribute__((noinline)) paint_stack(void) {
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (volatile uint32_t *p = &_ebss; p < sp - 16; p++) *p = PAINT;
}

static uint32_t stack_used(void) {
    const uint32_t *p = &_ebss;
    while (p < &_stack_top && *p == PAINT) p++;
    return (uint32_t)((const char *)&_stack_top - (const char *)p);
}

static void must(phonecheck_status st, const char *what) {
    if (st != PHONECHECK_STATUS_OK) {
        sh_puts("FAIL: ");
        sh_puts(what);
        sh_puts(": ");
        sh_puts(phonecheck_status_str((uint32_t)st));
        sh_puts("\n");
        sh_exit(0);
    }
}

static void create(void) {
    phonecheck_config cfg;
    must(phonecheck_config_default(&cfg), "config_default");
    cfg.check_url = CHECK_URL;
    cfg.check_url_len = sizeof CHECK_URL - 1;
    cfg.now_ms = 0;
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
    cfg.platform = PLATFORM;
    cfg.platform_len = sizeof PLATFORM - 1;
    cfg.allow_http_start = 1;
    cfg.total_timeout_ms = 30000;
    must(phonecheck_session_init(&session, sizeof session, &cfg), "init");
    must(phonecheck_session_set_access_token(&session, TOKEN, sizeof TOKEN - 1), "token");
    must(phonecheck_session_set_redirect_url(&session, REDIRECT_URL, sizeof REDIRECT_URL - 1),
         "redirect url");
    must(phonecheck_session_set_wall_clock(&session, 0, UNIX_AT_START), "wall clock");
}

/* Plays the network and the servers; returns how the check ended. */
static phonecheck_done run_chain(uint32_t *steps, uint32_t *hop_outputs) {
    static uint8_t tx[96];
    char text[PHONECHECK_HOST_BUFFER_SIZE];
    phonecheck_output out;
    uint64_t now = 0;
    uint32_t sending = 0;
    size_t reply = 0, offset = 0, req_len = 0;
    for (uint32_t step = 1; step <= 2000; step++) {
        now += 3;
        *steps = step;
        must(phonecheck_session_poll(&session, tx, sizeof tx, text, sizeof text, &out), "poll");
        switch (out.kind) {
        case PHONECHECK_OUTPUT_KIND_CONNECT: {
            phonecheck_conn_info info;
            memset(&info, 0, sizeof info);
            info.remote.family = 4;
            info.remote.port = out.port;
            const uint8_t api[4] = {192, 0, 2, 10}, mno[4] = {198, 51, 100, 7};
            memcpy(info.remote.addr, strcmp(text, "api.example") == 0 ? api : mno, 4);
            info.local.family = 4;
            info.local.port = (uint16_t)(40000u + step);
            info.local.addr[0] = 198, info.local.addr[1] = 51, info.local.addr[2] = 100;
            info.local.addr[3] = 2;
            info.dns_ms = 2;
            info.connect_ms = 1;
            must(phonecheck_session_connected(&session, now, out.conn, &info), "connected");
            break;
        }
        case PHONECHECK_OUTPUT_KIND_TRANSMIT: {
            /* The socket takes a little less than offered: requests resume mid-way. */
            size_t took = out.len > 8 ? out.len - 7 : 1;
            if (req_len + took > sizeof request) {
                sh_puts("FAIL: request too long\n");
                sh_exit(0);
            }
            memcpy(request + req_len, tx, took);
            req_len += took;
            sending = out.conn;
            must(phonecheck_session_sent(&session, now, out.conn, took), "sent");
            break;
        }
        case PHONECHECK_OUTPUT_KIND_CLOSE:
            break;
        case PHONECHECK_OUTPUT_KIND_HOP:
            ++*hop_outputs;
            break;
        case PHONECHECK_OUTPUT_KIND_WAIT: {
            if (reply >= 5) {
                sh_puts("FAIL: the session waits past the script\n");
                sh_exit(0);
            }
            if (req_len > 0) { /* the request is whole: check it, then the server answers */
                for (int i = 0; i < 3; i++) {
                    const struct expect *e = &EXPECT[reply][i];
                    check(contains(request, req_len, e->text) == e->present,
                          "a request lacked an expected header (token, cookie)");
                }
                req_len = 0;
            }
            const char *whole = REPLIES[reply];
            size_t len = strlen(whole);
            size_t end = offset + PIECE < len ? offset + PIECE : len;
            must(phonecheck_session_received(&session, now, sending, (const uint8_t *)whole + offset,
                                             end - offset),
                 "received");
            if (end == len) {
                reply++;
                offset = 0;
            } else {
                offset = end;
            }
            break;
        }
        case PHONECHECK_OUTPUT_KIND_DONE:
            return out.done;
        }
    }
    sh_puts("FAIL: the chain did not finish in 2000 steps\n");
    sh_exit(0);
}

int main(void) {
    paint_stack();
    must(PHONECHECK_ABI_CHECK(), "header and library disagree (phonecheck_abi_check)");
    create();
    uint32_t stack_configured = stack_used();

    uint32_t steps = 0, hop_outputs = 0;
    phonecheck_done done = run_chain(&steps, &hop_outputs);
    size_t needed = 0;
    phonecheck_pair info[1] = {{"platform", 8, "cortex-m4f-qemu-c", 17}};
    must(phonecheck_session_write_debug_envelope(&session, envelope, sizeof envelope, info, 1,
                                                 &needed),
         "envelope");
    char code[16];
    phonecheck_status code_st =
        phonecheck_session_field(&session, PHONECHECK_FIELD_CODE, code, sizeof code, &needed);
    phonecheck_result result;
    must(phonecheck_session_result(&session, &result), "result");
    uint32_t stack_whole = stack_used();

    sh_puts("envelope: ");
    sh_puts(envelope);
    sh_puts("\n");
    put_num("hops: ", done.hops);
    put_num(" (log kept ", result.hops_recorded);
    put_num("), status ", done.http_status);
    put_num(", connections ", result.connections);
    put_num(", steps ", steps);
    sh_puts("\n");
    put_num("stack: init+configure ", stack_configured);
    put_num(" bytes, whole check ", stack_whole);
    sh_puts(" bytes\n");
    put_num("ram: phonecheck_session_size() ", (uint32_t)phonecheck_session_size());
    put_num(" (sizeof phonecheck_session ", (uint32_t)sizeof(phonecheck_session));
    put_num("), phonecheck_connection_size() ", (uint32_t)phonecheck_connection_size());
    put_num(" (sizeof ", (uint32_t)sizeof(phonecheck_connection));
    put_num("), hop slot ", (uint32_t)phonecheck_hop_slot_size());
    sh_puts("\n");
    uint32_t exact = (uint32_t)(phonecheck_session_size() + PHONECHECK_SMALL_URL_AREA +
                                PHONECHECK_SMALL_RECEIVE_AREA + PHONECHECK_SMALL_COOKIE_AREA +
                                PHONECHECK_SMALL_CONNECTIONS * phonecheck_connection_size());
    uint32_t declared = (uint32_t)(sizeof session + sizeof url_area + sizeof receive_area +
                                   sizeof cookie_area + sizeof connection_slots);
    put_num("ram: session + small storage = ", exact);
    put_num(" bytes exact, ", declared);
    sh_puts(" bytes as declared with the header's types\n");

    check(done.ok, "the check failed");
    check(done.http_status == 200, "final status is not 200");
    check(done.hops == 5, "not 5 hops");
    check(hop_outputs == 5 && result.hops_recorded == 5, "not 5 hop records");
    check(done.has_code, "no check_id and code");
    check(code_st == PHONECHECK_STATUS_OK && strcmp(code, "4711") == 0, "code is not 4711");
    check(result.connections == 3, "not 3 connections");
    static const char prefix[] =
        "{\"http_status\":200,\"response_body\":{\"check_id\":\"c1\",\"code\":\"4711\",\"ttl\":300}";
    check(strncmp(envelope, prefix, sizeof prefix - 1) == 0,
          "envelope does not start with the expected result");
    must(phonecheck_session_deinit(&session), "deinit");
    if (failures != 0) {
        sh_puts("FAIL: the chain did not end as expected\n");
        return 1;
    }
    sh_puts("c-firmware check ok\n");
    return 0;
}
