#!/usr/bin/env bash
# Installs mproc into a scratch prefix and builds a program against it twice:
# once through pkg-config (mproc.pc) and once through find_package(mproc).
set -euo pipefail
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null

cat > "$tmp/hello.c" <<'C'
#include <mproc.h>
#include <stdio.h>
static int twice(mp_task *t, const void *in, void *out) { (void)t; *(int *)out = 2 * *(const int *)in; return 0; }
int main(void) {
    int in[3] = {1, 2, 3}, out[3];
    mp_pool *pool;
    if (mp_pool_open(&pool, NULL) || mp_map(pool, twice, in, 3, sizeof *in, out, sizeof *out, NULL)) {
        fprintf(stderr, "%s\n", mp_last_error());
        return 1;
    }
    mp_pool_close(pool);
    printf("%d %d %d\n", out[0], out[1], out[2]);
    return 0;
}
C
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -n1)
PKG_CONFIG_PATH=$libdir cc -o "$tmp/hello-pc" "$tmp/hello.c" $(PKG_CONFIG_PATH=$libdir pkg-config --cflags --libs mproc) \
    -Wl,-rpath,"$(dirname "$libdir")"
[ "$("$tmp/hello-pc")" = "2 4 6" ]

mkdir "$tmp/cm"
cat > "$tmp/cm/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.16)
project(hello C)
find_package(mproc REQUIRED)
add_executable(hello ../hello.c)
target_link_libraries(hello PRIVATE mproc::mproc)
C
cmake -S "$tmp/cm" -B "$tmp/cm/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm/build" >/dev/null
[ "$("$tmp/cm/build/hello")" = "2 4 6" ]
echo "install check: pkg-config and find_package(mproc) both work"
