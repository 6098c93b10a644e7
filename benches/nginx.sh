# benches/nginx.sh: sourced by the benchmark scripts; writes the one nginx configuration
# they all time against (2 workers, sendfile, keep-alive, no access log, static files).
#
#   nginx_conf DIR PORT ROOT [EXTRA]   writes DIR/nginx.conf: pid, logs and temp files in DIR,
#                                      serving ROOT on 127.0.0.1:PORT; EXTRA goes into http {}
nginx_conf() {
  local dir=$1 port=$2 root=$3 extra=${4:-}
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
  access_log off;
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
  $extra
  server {
    listen 127.0.0.1:$port;
    root $root;
    location / { }
  }
}
CONF
}
