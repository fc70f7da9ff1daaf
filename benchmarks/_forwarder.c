/* The floor for any TCP proxy on this machine: a minimal native forwarder.
 *
 * One thread, one epoll set, no toxics, no API: each chunk read on one socket is
 * written to its peer (blocking in poll() on the rare short write). benchmarks/proxy.py
 * compiles it with the system's cc and runs pgbench through it in the same rounds as
 * the embedded proxy and the Python floor (_forwarder.py), so the cost of the extra
 * hop itself (two more loopback TCP traversals and wake-ups per round trip) can be
 * told apart from the cost of doing it in Python.
 *
 *     cc -O2 -o forwarder benchmarks/_forwarder.c
 *     ./forwarder LISTEN_PORT UPSTREAM_IPV4 UPSTREAM_PORT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FD 65536

static int peer_of[MAX_FD];

static void tune(int fd) {
    int one = 1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int send_all(int fd, const char *buf, ssize_t len) {
    while (len > 0) {
        ssize_t sent = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno != EAGAIN && errno != EINTR) return -1;
            struct pollfd want = {.fd = fd, .events = POLLOUT};
            poll(&want, 1, 1000);
            continue;
        }
        buf += sent;
        len -= sent;
    }
    return 0;
}

static void drop(int epoll_fd, int fd) {
    int peer = peer_of[fd];
    peer_of[fd] = peer_of[peer] = -1;  /* a stale event of this batch must not touch them */
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, peer, NULL);
    close(fd);
    close(peer);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s LISTEN_PORT UPSTREAM_IPV4 UPSTREAM_PORT\n", argv[0]);
        return 2;
    }
    struct sockaddr_in listen_at = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    struct sockaddr_in upstream = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
    inet_pton(AF_INET, "127.0.0.1", &listen_at.sin_addr);
    if (inet_pton(AF_INET, argv[2], &upstream.sin_addr) != 1) {
        fprintf(stderr, "not an IPv4 address: %s\n", argv[2]);
        return 2;
    }
    int one = 1, listener = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, (struct sockaddr *)&listen_at, sizeof listen_at) || listen(listener, 128)) {
        perror("listen");
        return 1;
    }
    int epoll_fd = epoll_create1(0);
    struct epoll_event event = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event);
    printf("listening on 127.0.0.1:%s\n", argv[1]);
    fflush(stdout);
    static char buf[65536];
    struct epoll_event ready[64];
    for (;;) {
        int n = epoll_wait(epoll_fd, ready, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = ready[i].data.fd;
            if (fd == listener) {
                int client = accept(listener, NULL, NULL);
                if (client < 0) continue;
                int server = socket(AF_INET, SOCK_STREAM, 0);
                if (client >= MAX_FD || server >= MAX_FD
                        || connect(server, (struct sockaddr *)&upstream, sizeof upstream)) {
                    close(client);
                    close(server);
                    continue;
                }
                tune(client);
                tune(server);
                peer_of[client] = server;
                peer_of[server] = client;
                struct epoll_event a = {.events = EPOLLIN, .data.fd = client};
                struct epoll_event b = {.events = EPOLLIN, .data.fd = server};
                epoll_ctl(epoll_fd, EPOLL_CTL_ADD, client, &a);
                epoll_ctl(epoll_fd, EPOLL_CTL_ADD, server, &b);
                continue;
            }
            if (peer_of[fd] < 0) continue;
            ssize_t got = recv(fd, buf, sizeof buf, 0);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (got <= 0 || send_all(peer_of[fd], buf, got)) drop(epoll_fd, fd);
        }
    }
}
