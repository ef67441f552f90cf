/* The sandbox probe: compiled -static on the host, run as a job inside the jail.
 *
 * `probe escape SECRET HOSTPID` tries every way out the tests know of and prints one line per
 * check, "ok NAME" or "FAIL NAME: why"; it exits 0 only if every check passed.
 * The other modes each push one limit: cpu, mem, fsize, fork, sleep, spew, scratch.
 * Nothing here sends a packet: the TCP connect goes to 127.0.0.1 and the other address is a
 * UDP connect, which only picks a route.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

static void check(const char *name, int ok, const char *why) {
    if (ok) {
        printf("ok %s\n", name);
    } else {
        printf("FAIL %s: %s\n", name, why);
        failures++;
    }
}

/* Expects the call to have failed; says what happened. */
static void must_fail(const char *name, int result) {
    char why[256];
    if (result >= 0) {
        check(name, 0, "succeeded");
        return;
    }
    snprintf(why, sizeof why, "%s", strerror(errno));
    check(name, 1, why);
}

/* Runs first, before the probe opens anything itself. */
static void inherited_fds(void) {
    char why[64];
    int open_fds = 0;
    for (int fd = 3; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1) open_fds++;
    snprintf(why, sizeof why, "%d fds above 2 open", open_fds);
    check("no_inherited_fds", open_fds == 0, why);
}

static void network(void) {
    struct sockaddr_in lo = {.sin_family = AF_INET, .sin_port = htons(22)};
    inet_pton(AF_INET, "127.0.0.1", &lo.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    must_fail("net_tcp_loopback", s < 0 ? 0 : connect(s, (void *)&lo, sizeof lo));
    struct sockaddr_in other = {.sin_family = AF_INET, .sin_port = htons(9)};
    inet_pton(AF_INET, "192.0.2.1", &other.sin_addr); /* TEST-NET-1 */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    must_fail("net_udp_route_other", u < 0 ? 0 : connect(u, (void *)&other, sizeof other));
    struct sockaddr_in6 six = {.sin6_family = AF_INET6, .sin6_port = htons(9)};
    inet_pton(AF_INET6, "2001:db8::1", &six.sin6_addr);
    int u6 = socket(AF_INET6, SOCK_DGRAM, 0);
    must_fail("net_udp6_route_other", u6 < 0 ? -1 : connect(u6, (void *)&six, sizeof six));

    struct if_nameindex *ifs = if_nameindex();
    int count = 0, only_lo = 1;
    for (struct if_nameindex *i = ifs; i && i->if_index; i++, count++)
        if (strcmp(i->if_name, "lo") != 0) only_lo = 0;
    char why[64];
    snprintf(why, sizeof why, "%d interfaces", count);
    check("net_only_lo", ifs && count == 1 && only_lo, why);
    struct ifreq req = {0};
    strcpy(req.ifr_name, "lo");
    int up = ioctl(s, SIOCGIFFLAGS, &req) == 0 && (req.ifr_flags & IFF_UP);
    check("net_lo_down", !up, "lo is up");
}

static void host_files(const char *secret) {
    must_fail("read_etc_passwd", open("/etc/passwd", O_RDONLY));
    must_fail("read_root_dir", open("/root", O_RDONLY | O_DIRECTORY));
    must_fail("read_host_secret", open(secret, O_RDONLY));
    must_fail("read_proc1_environ", open("/proc/1/environ", O_RDONLY));
    must_fail("open_proc1_root", open("/proc/1/root/etc/passwd", O_RDONLY));
    must_fail("dotdot_escape", open("/../../../etc/passwd", O_RDONLY));
    must_fail("proc_sys_hidden", open("/proc/sys/kernel/hostname", O_RDONLY));
}

static void writes(void) {
    must_fail("write_usr", open("/usr/probe-was-here", O_CREAT | O_WRONLY, 0644));
    must_fail("write_root", open("/probe-was-here", O_CREAT | O_WRONLY, 0644));
    must_fail("mkdir_etc", mkdir("/etc", 0755));
    must_fail("write_input", open("/opt/probe/probe", O_WRONLY));
    int fd = open("cwd-was-writable", O_CREAT | O_WRONLY, 0644);
    check("write_cwd", fd >= 0 && write(fd, "x", 1) == 1, strerror(errno));
    fd = open("/tmp/tmp-was-writable", O_CREAT | O_WRONLY, 0644);
    check("write_tmp", fd >= 0, strerror(errno));
}

static void processes(pid_t host_pid) {
    int pids = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9') pids++;
    char why[64];
    snprintf(why, sizeof why, "%d processes visible, my pid %d", pids, (int)getpid());
    check("proc_only_own_namespace", d && pids == 2 && getpid() == 2, why);
    must_fail("kill_host_pid", kill(host_pid, 0));
    /* Signal 0 only asks who could be signalled: nobody but init and us. */
    must_fail("kill_everyone", kill(-1, 0));
    must_fail("ptrace_init", ptrace(PTRACE_ATTACH, 1, 0, 0));
}

static void privileges(void) {
    must_fail("mount_tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
    must_fail("unshare_user", unshare(CLONE_NEWUSER));
    must_fail("chroot", chroot("/tmp"));
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int caps_zero = 0, nnp = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "CapEff:\t0000000000000000", 24) ||
            !strncmp(line, "CapPrm:\t0000000000000000", 24) ||
            !strncmp(line, "CapBnd:\t0000000000000000", 24))
            caps_zero++;
        if (!strncmp(line, "NoNewPrivs:\t1", 13)) nnp = 1;
    }
    check("no_capabilities", caps_zero == 3, "a capability set is not empty");
    check("no_new_privs", nnp, "NoNewPrivs is not 1");
    check("not_root_inside", getuid() != 0 && geteuid() != 0, "uid 0");
    struct utsname u;
    check("hostname", uname(&u) == 0 && !strcmp(u.nodename, "meshcc"), u.nodename);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "true";
    if (!strcmp(mode, "true")) return 0;
    if (!strcmp(mode, "escape") && argc > 3) {
        inherited_fds();
        network();
        host_files(argv[2]);
        writes();
        processes((pid_t)atoi(argv[3]));
        privileges();
        return failures ? 1 : 0;
    }
    if (!strcmp(mode, "cpu")) {
        for (volatile unsigned long i = 0;; i++) {}
    }
    if (!strcmp(mode, "mem")) {
        size_t mib = 0;
        for (;;) {
            char *p = malloc(1 << 20);
            if (!p) {
                fprintf(stderr, "probe: out of memory after %zu MiB\n", mib);
                return 1;
            }
            memset(p, 1, 1 << 20);
            mib++;
        }
    }
    if (!strcmp(mode, "fsize")) {
        static char block[1 << 20];
        int fd = open("big.out", O_CREAT | O_WRONLY | O_TRUNC, 0644);
        for (int i = 0; i < 64; i++)
            if (write(fd, block, sizeof block) < 0) {
                perror("probe: write");
                return 1;
            }
        return 0;
    }
    if (!strcmp(mode, "fork")) {
        /* Bounded even if the limit were missing: 500 children at most. */
        for (int n = 0; n < 500; n++) {
            pid_t pid = fork();
            if (pid == 0) {
                pause();
                _exit(0);
            }
            if (pid < 0) {
                fprintf(stderr, "probe: fork: %s after %d children\n", strerror(errno), n);
                return 1;
            }
        }
        fprintf(stderr, "probe: forked 500 children\n");
        return 0;
    }
    if (!strcmp(mode, "sleep")) {
        sleep(60);
        return 0;
    }
    if (!strcmp(mode, "spew")) {
        static char block[65536];
        memset(block, 'x', sizeof block);
        for (;;)
            if (write(1, block, sizeof block) < 0) return 1;
    }
    if (!strcmp(mode, "scratch")) {
        static char block[1 << 20];
        int fd = open("/tmp/fill", O_CREAT | O_WRONLY, 0644);
        for (;;)
            if (write(fd, block, sizeof block) < 0) {
                perror("probe: /tmp/fill");
                return 1;
            }
    }
    if (!strcmp(mode, "outputs")) {
        /* out.o regular; link.o a symlink to init's environment; dir.o a directory. */
        FILE *f = fopen("out.o", "w");
        fputs("object bytes", f);
        fclose(f);
        symlink("/proc/1/environ", "link.o");
        mkdir("dir.o", 0755);
        puts("to stdout");
        fputs("to stderr\n", stderr);
        return 3;
    }
    fprintf(stderr, "probe: unknown mode %s\n", mode);
    return 2;
}
