#!/bin/sh
# Builds the mailserver Debian package with dpkg-deb, without network access.
#
#   packaging/build-deb.sh [--from BUILD_OUTPUT] [--version X.Y.Z] [--output DIR]
#
# Without --from it runs `dotnet publish` of Server/: Release, self-contained for linux-x64 (the .NET and ASP.NET Core
# runtimes ship inside the package, so the target needs no .NET install; restore must be possible, from the local
# package cache or NuGet). With --from it packages an existing output of Server/ instead (the folder holding
# mailserver.dll), which is what the package test does with the one self-contained publish of its run: a
# self-contained output (it holds libcoreclr.so) depends only on the C and C++ libraries and OpenSSL; a
# framework-dependent build depends on the .NET 10 ASP.NET Core runtime (package aspnetcore-runtime-10.0).
#
# Layout: /usr/lib/mailserver (the server), /usr/bin/mailserver (the CLI, with the packaged config by default),
# /etc/mailserver/appsettings.json (conffile: the repository's sample on the standard ports, state in
# /var/lib/mailserver), /lib/systemd/system/mailserver.service, /usr/share/doc/mailserver.
set -eu

root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
from=""
version="0.1.0"
output="$root/packaging/out"
while [ $# -gt 0 ]; do
    case "$1" in
        --from) from="$2"; shift 2 ;;
        --version) version="$2"; shift 2 ;;
        --output) output="$2"; shift 2 ;;
        *) echo "build-deb.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
lib="$stage/usr/lib/mailserver"
mkdir -p "$lib" "$stage/usr/bin" "$stage/etc/mailserver" "$stage/lib/systemd/system" "$stage/usr/share/doc/mailserver" "$stage/DEBIAN"

if [ -n "$from" ]; then
    [ -f "$from/mailserver.dll" ] || { echo "build-deb.sh: $from holds no mailserver.dll" >&2; exit 2; }
    cp -R "$from"/. "$lib"/
else
    dotnet publish "$root/Server/MailServer.Server.csproj" -c Release -r linux-x64 --self-contained \
        -p:UseAppHost=true -o "$lib" -nologo -v q
fi
[ -x "$lib/mailserver" ] || { echo "build-deb.sh: the output has no mailserver launcher (publish with -p:UseAppHost=true)" >&2; exit 2; }
if [ -f "$lib/libcoreclr.so" ]; then
    # Self-contained: what the runtime itself loads (glibc, libstdc++, OpenSSL for TLS; no ICU, globalization is invariant).
    depends="adduser, libc6, libgcc-s1, libstdc++6, libssl3 | libssl3t64"
else
    depends="aspnetcore-runtime-10.0, adduser"
fi
# Nothing of a developer's run comes along: no config, no data, no symbols.
rm -rf "$lib/appsettings.json" "$lib/data" "$lib"/*.pdb

# The CLI reads the packaged config unless told otherwise (mailserver --config FILE ...).
cat > "$stage/usr/bin/mailserver" <<'WRAPPER'
#!/bin/sh
case " $* " in
    *" --config "*|*" --config="*) exec /usr/lib/mailserver/mailserver "$@" ;;
    *) exec /usr/lib/mailserver/mailserver "$@" --config /etc/mailserver/appsettings.json ;;
esac
WRAPPER
chmod 0755 "$stage/usr/bin/mailserver"

# The sample config on the standard ports, its state in /var/lib/mailserver.
sed -e 's|"DataDirectory": "data"|"DataDirectory": "/var/lib/mailserver"|' \
    -e 's|"Smtp": 2525|"Smtp": 25|' -e 's|"Submission": 2587|"Submission": 587|' -e 's|"Submissions": 2465|"Submissions": 465|' \
    -e 's|"Imap": 2143|"Imap": 143|' -e 's|"Imaps": 2993|"Imaps": 993|' -e 's|"Https": 2443|"Https": 443|' \
    "$root/appsettings.json" > "$stage/etc/mailserver/appsettings.json"
chmod 0640 "$stage/etc/mailserver/appsettings.json"

install -m 0644 "$root/packaging/debian/mailserver.service" "$stage/lib/systemd/system/mailserver.service"
install -m 0644 "$root/README.md" "$stage/usr/share/doc/mailserver/README.md"
for script in postinst prerm postrm; do
    install -m 0755 "$root/packaging/debian/$script" "$stage/DEBIAN/$script"
done
echo /etc/mailserver/appsettings.json > "$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: mailserver
Version: $version
Architecture: amd64
Maintainer: mailserver maintainers <postmaster@localhost>
Depends: $depends
Installed-Size: $size
Section: mail
Priority: optional
Provides: mail-transport-agent
Conflicts: mail-transport-agent
Replaces: mail-transport-agent
Description: self-hosted mail server modelled on Amazon WorkMail
 SMTP (MX, submission), IMAP, encrypted mailboxes per organization, email flow
 rules and hooks, SPF/DKIM/DMARC, MTA-STS, DANE, REQUIRETLS, TLS-RPT and DMARC
 reports, autoconfig and autodiscover, ACME certificates, the WorkMail API.
CONTROL

mkdir -p "$output"
deb="$output/mailserver_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zgzip --build "$stage" "$deb" >/dev/null
echo "$deb"
