#!/bin/sh
# repro.sh seq|par N plain|ppd: see README.md. Leaves everything under /tmp/cupsd-race.
set -u
mode=$1; n=$2; how=$3
R=/tmp/cupsd-race; P=$R/srv; PORT=24977
[ -f $P/pid ] && kill "$(cat $P/pid)" 2>/dev/null; sleep 1
rm -rf $P; mkdir -p $P/etc $P/spool/tmp $P/cache $P/log $P/state
chmod 755 $R $P $P/etc; chmod 1777 $P/spool/tmp
printf 'Listen 127.0.0.1:%s\nServerAlias *\nLogLevel info\nWebInterface No\nBrowsing No\nBrowseLocalProtocols none\nDefaultAuthType None\n<Location />\n  Order allow,deny\n  Allow 127.0.0.0/8\n</Location>\n<Location /admin>\n  Order allow,deny\n  Allow 127.0.0.0/8\n</Location>\n<Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n' $PORT > $P/etc/cupsd.conf
printf 'ServerRoot %s/etc\nRequestRoot %s/spool\nCacheDir %s/cache\nStateDir %s/state\nTempDir %s/spool/tmp\nErrorLog %s/log/error_log\nAccessLog %s/log/access_log\nPageLog %s/log/page_log\nUser lp\nGroup lp\nSystemGroup root\nSandboxing Relaxed\n' $P $P $P $P $P $P $P $P > $P/etc/cups-files.conf
chown -R lp:lp $P/spool $P/cache $P/state $P/log
vg=; [ -n "${VALGRIND:-}" ] && vg="valgrind --log-file=$P/log/vg.%p"
DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/x $vg /usr/sbin/cupsd -f -c $P/etc/cupsd.conf -s $P/etc/cups-files.conf > $P/log/cupsd.out 2>&1 &
echo $! > $P/pid
export CUPS_SERVER=127.0.0.1:$PORT
i=0; while [ $i -lt 300 ] && ! lpstat -r 2>/dev/null | grep -q 'is running'; do sleep 0.2; i=$((i+1)); done
for j in 1 2 3 4; do
  if ! { [ -f $R/prn$j.pid ] && kill -0 "$(cat $R/prn$j.pid)" 2>/dev/null; }; then
    mkdir -p $R/prn$j
    ippeveprinter -2 -k -p $((24980+j)) -M ACME -m "LaserJet $j" -d $R/prn$j rprn$j > $R/prn$j.log 2>&1 &
    echo $! > $R/prn$j.pid
  fi
done
sleep 2
driverless cat ipp://127.0.0.1:24981/ipp/print > $R/model.ppd 2>/dev/null; chmod 644 $R/model.ppd
one() { # one QUEUE PRINTER
  u=ipp://127.0.0.1:$((24980+$2))/ipp/print
  if [ "$how" = ppd ]; then
    lpadmin -p "$1" -E -v $u -P $R/model.ppd -L loc -D desc -o printer-is-shared=false -o PageSize=A4 2>/dev/null
  else
    lpadmin -p "$1" -E -v $u -m everywhere && lpadmin -p "$1" -L loc -D desc -o printer-is-shared=false -o PageSize=A4
  fi
}
loop() { q=1; while [ $q -le "$n" ]; do one "q$1-$q" $(( (q % 4) + 1 )) || echo "q$1-$q failed"; q=$((q+1)); done; }
start=$(date +%s.%N)
if [ "$mode" = par ]; then for w in 1 2 3 4; do loop $w & done; wait; else loop 1; fi
echo "took $(echo "$(date +%s.%N) - $start" | bc) s; queues: $(lpstat -v 2>/dev/null | wc -l)"
kill -0 "$(cat $P/pid)" && echo "cupsd alive" || echo "cupsd DIED: $(tail -2 $P/log/cupsd.out)"
[ -z "${VALGRIND:-}" ] || { sleep 2; echo "invalid reads: $(cat $P/log/vg.* | grep -c 'Invalid read')"; }
