/*
 * Starting the child of an `exec:` transport (subprocess.c): pipes whose
 * fds are close-on-exec and above 2, the program found the way execvp
 * finds it, and posix_spawn with the child's stdio, its directory, a
 * clean signal state and nothing else inherited.
 */
#include "subprocess_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

/* `fd` moved above 2 (so it cannot be mistaken for stdio, and a dup2 onto
 * 0/1/2 in the child is never a no-op that keeps close-on-exec). */
static int
above_stdio(int fd)
{
    if (fd > STDERR_FILENO)
        return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    int e = errno;
    close(fd);
    errno = e;
    return nfd;
}

int
wire__spawn_pipe(int p[2])
{
    p[0] = p[1] = -1;
    int q[2];
    if (pipe2(q, O_CLOEXEC) < 0)
        return -errno;
    p[0] = above_stdio(q[0]);
    p[1] = above_stdio(q[1]);
    if (p[0] < 0 || p[1] < 0) {
        int e = errno;
        if (p[0] >= 0)
            close(p[0]);
        if (p[1] >= 0)
            close(p[1]);
        p[0] = p[1] = -1;
        return -e;
    }
    return 0;
}

/* `dir`/`name`, `dir` taken from `cwd` when relative (NULL on ENOMEM). */
static char *
path_join(const char *cwd, const char *dir, size_t dlen, const char *name)
{
    bool rel = dlen == 0 || dir[0] != '/';
    size_t clen = rel && cwd != NULL ? strlen(cwd) : 0;
    char *p = malloc(clen + dlen + strlen(name) + 3);
    if (p == NULL)
        return NULL;
    p[0] = '\0';
    if (clen > 0) {
        memcpy(p, cwd, clen);
        p[clen++] = '/';
        p[clen] = '\0';
    }
    if (dlen == 0) {
        strcpy(p + clen, ".");
        dlen = 1;
    } else {
        memcpy(p + clen, dir, dlen);
        p[clen + dlen] = '\0';
    }
    strcat(p, "/");
    strcat(p, name);
    return p;
}

/* Can `path` be executed?  0 or the errno execve would give. */
static int
runnable(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return errno;
    if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
        return EACCES;
    return 0;
}

/* Find the program the way execvp does -- in PATH unless its name has a
 * '/', remembering EACCES while looking further -- with relative paths
 * taken from the child's `cwd`.  Done here rather than left to
 * posix_spawnp so that a missing program is always a synchronous error:
 * where the spawn cannot report exec's errno back (valgrind turns its
 * vfork into a fork) the child would just exit 127.  Returns the path to
 * give posix_spawn, or NULL with `*e` set. */
static char *
find_program(const char *prog, const char *cwd, int *e)
{
    if (strchr(prog, '/') != NULL) {
        char *p = prog[0] == '/' || cwd == NULL ? strdup(prog)
                                                : path_join(cwd, "", 0, prog);
        *e = p == NULL ? ENOMEM : runnable(p);
        if (*e != 0) {
            free(p);
            return NULL;
        }
        return p;
    }
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/bin:/usr/bin"; /* glibc's default for execvp */
    bool denied = false;
    for (const char *d = path;; d += strcspn(d, ":") + 1) {
        char *p = path_join(cwd, d, strcspn(d, ":"), prog);
        if (p == NULL) {
            *e = ENOMEM;
            return NULL;
        }
        int r = runnable(p);
        if (r == 0)
            return p;
        free(p);
        if (r == EACCES)
            denied = true;
        if (d[strcspn(d, ":")] == '\0')
            break;
    }
    *e = denied ? EACCES : ENOENT;
    return NULL;
}

/* Spawn `argv` (argv[0] found as execvp would) with `in`/`out`/`err` (the
 * child's ends; err may be -1) as its stdio.  Returns 0 or an errno
 * value. */
int
wire__spawn_child(pid_t *pid, char *const argv[], const struct wire_subprocess_options *o,
         int in, int out, int err)
{
    int found = 0;
    char *prog = find_program(argv[0], o->cwd, &found);
    if (prog == NULL)
        return found;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc != 0) {
        free(prog);
        return rc;
    }
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&fa);
        free(prog);
        return rc;
    }
    int mode = o->stderr_mode;
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, in, STDIN_FILENO);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
    if (rc == 0 && mode == WIRE_STDERR_NULL)
        rc = posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null",
                                              O_WRONLY, 0);
    else if (rc == 0 && mode == WIRE_STDERR_STDOUT)
        rc = posix_spawn_file_actions_adddup2(&fa, out, STDERR_FILENO);
    else if (rc == 0 && mode == WIRE_STDERR_CAPTURE)
        rc = posix_spawn_file_actions_adddup2(&fa, err, STDERR_FILENO);
    /* Whatever else is open in this process without close-on-exec (fds
     * a test runner or a caller left inheritable) stays here. */
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
    if (rc == 0 && o->cwd != NULL)
        rc = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    /* The child starts with no signal blocked (the loop may block some)
     * and SIGPIPE back to its default (a caller may ignore it). */
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGXFSZ);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&attr, &def);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                                 POSIX_SPAWN_SETSIGDEF);
    if (rc == 0)
        rc = posix_spawn(pid, prog, &fa, &attr, argv,
                         o->envp != NULL ? o->envp : environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    free(prog);
    return rc;
}
