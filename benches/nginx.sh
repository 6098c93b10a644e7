# benches/nginx.sh: sourced by the benchmark scripts; the one nginx configuration they all
# time against (2 workers, sendfile, keep-alive, static files) and the pacing shim.
#
#   nginx_conf DIR PORT ROOT [LOG]  writes DIR/nginx.conf: pid, logs and temp files in DIR,
#                                   serving ROOT on 127.0.0.1:PORT; LOG is the http {} block's
#                                   access-log directives (default: access_log off;)
#   pace_shim DIR                   builds DIR/pace.so (see below); returns cc's status
nginx_conf() {
  local dir=$1 port=$2 root=$3 log=${4:-access_log off;}
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<CONF
worker_processes 2;
daemon on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  types { }
  default_type application/octet-stream;
  $log
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 75s;
  keepalive_requests 100000;
  client_body_temp_path $dir/tmp/client_body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $root;
    location / { }
  }
}
CONF
}

# The pacing shim: sets SO_MAX_PACING_RATE on every socket nginx accepts. The kernel's TCP
# stack then paces that connection's sends itself (no qdisc needed, loopback included),
# however many requests it carries. The rate is read when the library loads, in the nginx
# master: nginx clears the environment of its workers, which it forks (no exec), so they
# keep the value.
pace_shim() {
  local dir=$1
  cat >"$dir/pace.c" <<'SHIM'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>

static unsigned int rate; /* bytes per second; 0: leave sockets alone */

__attribute__((constructor)) static void pace_init(void) {
  const char *s = getenv("PACE_BYTES_PER_SEC");
  rate = s ? (unsigned int)strtoul(s, NULL, 10) : 0;
}

static int paced(int fd) {
  if (fd >= 0 && rate)
    setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &rate, sizeof rate);
  return fd;
}

int accept(int s, struct sockaddr *addr, socklen_t *len) {
  static int (*real)(int, struct sockaddr *, socklen_t *);
  if (!real) real = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
  return paced(real(s, addr, len));
}

int accept4(int s, struct sockaddr *addr, socklen_t *len, int flags) {
  static int (*real)(int, struct sockaddr *, socklen_t *, int);
  if (!real) real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
  return paced(real(s, addr, len, flags));
}
SHIM
  cc -O2 -shared -fPIC -o "$dir/pace.so" "$dir/pace.c" -ldl
}
