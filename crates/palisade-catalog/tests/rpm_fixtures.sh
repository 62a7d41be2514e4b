#!/usr/bin/env bash
# Regenerates tests/fixtures/rpm/: small rpm databases in the three rpmdb formats, all holding
# the same four package headers, and the package lists that real rpm prints for them.
#
#   rpmdb.sqlite                 rpm 4.18 `--initdb` + `rpm -i --justdb` (sqlite backend), plus a
#                                gpg-pubkey pseudo-package from `rpm --import`
#   bdb-overflow.Packages        Berkeley DB hash, 4 KiB pages, little-endian: every header lives
#                                on overflow pages (as on CentOS/RHEL <= 8)
#   bdb-inline.Packages          the same with 16 KiB pages: headers stored inline on hash pages
#   bdb-bigendian.Packages       4 KiB pages, big-endian (as written on s390x)
#   Packages.db                  NDB (SUSE), written by rpm's own lib/backend/ndb/rpmpkg.c
#   expected-packages.tsv        `rpm -qa` over rpmdb.sqlite: NAME, EPOCHNUM:VERSION-RELEASE, ARCH,
#                                SOURCERPM, EVR, LICENSE (sorted)
#   expected-files.tsv           `rpm -qa` file lists: NAME, FILENAMES (sorted)
#
# The BDB files are built with db5.3_load from the header blobs of rpmdb.sqlite (key = header
# number in the file's byte order, key 0 = rpm's "next header number" record), and each one is
# then read back with rpm's own bdb_ro backend: its `rpm -qa` output must equal
# expected-packages.tsv. Debian's rpm has no NDB backend, so Packages.db is written by rpm
# 4.18's rpmpkg.c compiled into a tiny helper, which then reads every blob back (rpmpkgList +
# rpmpkgGet) and the script checks they are byte-identical to the sqlite blobs.
#
# Needs (Debian bookworm): apt-get install -y rpm sqlite3 db5.3-util gnupg gcc xxd
# and the rpm 4.18 source tree in RPM_SRC (only lib/backend/ndb/ is used), e.g.
#   git -C rpm.git archive rpm-4.18.0-release lib/backend/ndb | tar -x -C "$RPM_SRC"
# Usage: RPM_SRC=/path/to/rpm-4.18.0 crates/palisade-catalog/tests/rpm_fixtures.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=$here/fixtures/rpm
: "${RPM_SRC:?set RPM_SRC to an rpm 4.18 source tree (for lib/backend/ndb/rpmpkg.c)}"
[ -f "$RPM_SRC/lib/backend/ndb/rpmpkg.c" ] || { echo "no lib/backend/ndb/rpmpkg.c under $RPM_SRC" >&2; exit 1; }
for tool in rpm rpmbuild sqlite3 db5.3_load gpg cc xxd; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000 LC_ALL=C TZ=UTC
mkdir -p "$out"

# Debian's rpm prints an "use Alien instead" notice on every call; keep real errors.
quiet() { "$@" 2> >(grep -v -e 'should not be used directly' -e 'assuming you know' >&2); }

# ---- 1. three tiny noarch packages -----------------------------------------------------------
mkdir -p "$work/specs"
cat > "$work/specs/hello-epoch.spec" <<'EOF'
Name:           hello-epoch
Epoch:          2
Version:        1.0
Release:        3
Summary:        Fixture package with an epoch
License:        MIT
BuildArch:      noarch

%description
Fixture package with an epoch.

%install
mkdir -p %{buildroot}/usr/share/hello-epoch
echo hi > %{buildroot}/usr/share/hello-epoch/greeting.txt

%files
/usr/share/hello-epoch/greeting.txt
EOF
cat > "$work/specs/twodirs.spec" <<'EOF'
Name:           twodirs
Version:        2.5.1
Release:        7.fc40
Summary:        Fixture package with files in two directories
License:        GPL-2.0-or-later AND MIT
BuildArch:      noarch

%description
Fixture package with files in two directories and no epoch.

%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/twodirs
printf '#!/bin/sh\necho two\n' > %{buildroot}/usr/bin/twodirs
echo conf=1 > %{buildroot}/etc/twodirs/twodirs.conf

%files
%dir /etc/twodirs
%config /etc/twodirs/twodirs.conf
/usr/bin/twodirs
EOF
# The binary package libother is built from source package srcname, with an explicit Epoch: 0.
cat > "$work/specs/srcname.spec" <<'EOF'
Name:           srcname
Epoch:          0
Version:        0.9
Release:        1.el9
Summary:        Source package whose binary has another name
License:        BSD-3-Clause
BuildArch:      noarch

%description
Fixture source package.

%package -n libother
Summary:        Binary package named differently from its source

%description -n libother
Fixture binary package.

%install
mkdir -p %{buildroot}/usr/lib/libother
echo x > %{buildroot}/usr/lib/libother/data

%files -n libother
/usr/lib/libother/data
EOF
for spec in "$work"/specs/*.spec; do
    quiet rpmbuild -bb --quiet \
        --define "_topdir $work/top" \
        --define "_buildhost fixture.invalid" \
        --define "use_source_date_epoch_as_buildtime 1" \
        "$spec" >/dev/null
done

# ---- 2. sqlite: what rpm 4.18 writes ----------------------------------------------------------
db=$work/sqlite
quiet rpm --dbpath "$db" --initdb
for r in "$work"/top/RPMS/noarch/*.rpm; do
    quiet rpm --dbpath "$db" -i --nodeps --justdb --noscripts --notriggers "$r"
done
export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'Palisade Fixture <fixture@example.invalid>' ed25519 sign never 2>/dev/null
gpg --batch --armor --export fixture@example.invalid > "$work/key.asc"
quiet rpm --dbpath "$db" --import "$work/key.asc"
# rpm closed the database cleanly, so the WAL is empty and the main file is complete.
[ ! -s "$db/rpmdb.sqlite-wal" ] || { echo "rpmdb.sqlite-wal is not empty" >&2; exit 1; }
cp "$db/rpmdb.sqlite" "$out/rpmdb.sqlite"

qf='%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\t%{EVR}\t%{LICENSE}\n'
listpkgs() { quiet rpm -qa --dbpath "$1" "${@:2}" --qf "$qf" | sort; }
listpkgs "$db" > "$out/expected-packages.tsv"
quiet rpm -qa --dbpath "$db" --qf '[%{=NAME}\t%{FILENAMES}\n]' | sort > "$out/expected-files.tsv"

# Header blobs as "hnum HEX" lines.
sqlite3 "$db/rpmdb.sqlite" "SELECT hnum || ' ' || hex(blob) FROM Packages ORDER BY hnum" > "$work/blobs.txt"
next=$(( $(tail -n1 "$work/blobs.txt" | cut -d' ' -f1) + 1 ))

# ---- 3. Berkeley DB hash files, read back by rpm's bdb_ro -------------------------------------
u32hex() { # value, byte order (1234 little, 4321 big)
    if [ "$2" = 1234 ]; then printf '%02x%02x%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255))
    else printf '%08x' "$1"; fi
}
make_bdb() { # name, page size, byte order
    local name=$1 pagesize=$2 lorder=$3 dump=$work/$1.dump dir=$work/bdb-$1
    {
        printf 'VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=%s\nHEADER=END\n' "$pagesize"
        printf ' %s\n %s\n' "$(u32hex 0 "$lorder")" "$(u32hex "$next" "$lorder")"
        while read -r hnum hex; do
            printf ' %s\n %s\n' "$(u32hex "$hnum" "$lorder")" "${hex,,}"
        done < "$work/blobs.txt"
        printf 'DATA=END\n'
    } > "$dump"
    mkdir -p "$dir"
    db5.3_load -c db_lorder="$lorder" -c db_pagesize="$pagesize" -f "$dump" "$dir/Packages"
    # rpm's read-only BDB reader must list exactly what rpm listed from the sqlite database.
    listpkgs "$dir" --define '_db_backend bdb_ro' 2> >(grep -v 'could not open' >&2) > "$work/$name.tsv"
    cmp "$work/$name.tsv" "$out/expected-packages.tsv" || { echo "bdb_ro disagrees on $name" >&2; exit 1; }
    cp "$dir/Packages" "$out/bdb-$name.Packages"
}
make_bdb overflow 4096 1234
make_bdb inline 16384 1234
make_bdb bigendian 4096 4321

# ---- 4. NDB, written and read back by rpm's own rpmpkg.c --------------------------------------
mkdir -p "$work/ndb/rpm"
cat > "$work/ndb/system.h" <<'EOF'
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#define _(s) (s)
static inline void *xmalloc(size_t n) { void *p = malloc(n); if (!p) abort(); return p; }
static inline void *xcalloc(size_t n, size_t s) { void *p = calloc(n, s); if (!p) abort(); return p; }
static inline void *xrealloc(void *o, size_t n) { void *p = realloc(o, n); if (!p) abort(); return p; }
static inline char *xstrdup(const char *s) { char *p = strdup(s); if (!p) abort(); return p; }
EOF
cat > "$work/ndb/rpm/rpmlog.h" <<'EOF'
#include <stdio.h>
#define RPMLOG_ERR 3
#define RPMLOG_WARNING 4
#define rpmlog(level, ...) fprintf(stderr, __VA_ARGS__)
EOF
cat > "$work/ndb/ndbtool.c" <<'EOF'
/* ndbtool put DB < "hnum HEX" lines | ndbtool get DB > "hnum HEX" lines */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rpmpkg.h"
static int hexval(int c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }
int main(int argc, char **argv) {
    rpmpkgdb db;
    if (argc != 3) return 2;
    int put = !strcmp(argv[1], "put");
    if (rpmpkgOpen(&db, argv[2], put ? O_RDWR | O_CREAT : O_RDONLY, 0644)) return 1;
    if (put) {
        static char line[1 << 24];
        while (fgets(line, sizeof line, stdin)) {
            unsigned int want, idx;
            char *hex = strchr(line, ' ');
            if (!hex || sscanf(line, "%u", &want) != 1) return 1;
            hex++;
            size_t n = strcspn(hex, "\n") / 2;
            unsigned char *blob = malloc(n);
            for (size_t i = 0; i < n; i++) blob[i] = hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]);
            /* what ndb_pkgdbPut does for a new header */
            if (rpmpkgNextPkgIdx(db, &idx) || idx != want || rpmpkgPut(db, idx, blob, n)) return 1;
            free(blob);
        }
    } else {
        unsigned int *list, n;
        if (rpmpkgList(db, &list, &n)) return 1;
        for (unsigned int i = 0; i < n; i++) {
            unsigned char *blob; unsigned int len;
            if (rpmpkgGet(db, list[i], &blob, &len)) return 1;
            printf("%u ", list[i]);
            for (unsigned int j = 0; j < len; j++) printf("%02X", blob[j]);
            printf("\n");
            free(blob);
        }
    }
    rpmpkgClose(db);
    return 0;
}
EOF
cc -O1 -w -I"$work/ndb" -I"$RPM_SRC/lib/backend/ndb" -o "$work/ndbtool" \
    "$work/ndb/ndbtool.c" "$RPM_SRC/lib/backend/ndb/rpmpkg.c"
"$work/ndbtool" put "$work/Packages.db" < "$work/blobs.txt"
"$work/ndbtool" get "$work/Packages.db" | sort -n > "$work/ndb-blobs.txt"
cmp "$work/ndb-blobs.txt" "$work/blobs.txt" || { echo "NDB blobs differ from the sqlite blobs" >&2; exit 1; }
cp "$work/Packages.db" "$out/Packages.db"

ls -l "$out"
