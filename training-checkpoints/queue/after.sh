#!/usr/bin/env bash
# After the zoo's training: install the 12 new cards into the repository's models/mnist (replacing the old zoo),
# then run the default grid on them (resumable: a later start reads back every stored cell).
cd /work/main
export RIB_DATA_DIR=/work/shared/data
IDS="standard l1 adv-linf adv-l2 ir gradient-reg lipschitz-1e-3 lipschitz-1e-2 lipschitz-1e-1 lipschitz-1 proper-int2 proper-int"
while pgrep -f "rib-zoo/train.sh" > /dev/null; do sleep 30; done
bash /root/rib-zoo/train.sh >> /root/rib-zoo/train.log 2>&1  # what the first pass skipped or lost
for m in $IDS; do [ -f /root/rib-zoo/mnist/$m.toml ] || { echo "missing $m: not installing"; exit 1; }; done
if [ ! -f /root/rib-zoo/installed ]; then
  rm -f models/mnist/*.toml models/mnist/*.safetensors
  cp /root/rib-zoo/mnist/*.toml /root/rib-zoo/mnist/*.safetensors models/mnist/
  touch /root/rib-zoo/installed
  echo "installed $(date -u +%FT%T)"
fi
while [ ! -f /root/rib-zoo/go-headline ]; do sleep 20; done  # the tests run on idle cores first
stage() {  # stage NAME ARGS...: one rib run, timed, its bars filtered out of the log
  local name=$1; shift
  echo "=== $name $(date -u +%FT%T)"
  /usr/bin/time -v rib run --grid default "$@" 2>&1 | grep --line-buffered -v "^\s" | grep --line-buffered -v "it/s\]$"
  echo "=== end $name rc=${PIPESTATUS[0]} $(date -u +%FT%T)"
}
# first what the cards' claims rest on: PGD at n = 1,000 in both norms, the worst case at each model's own norm
stage "headline linf" --only headline --attack '*-linf' --executor ray
stage "headline l2 of the l2-trained" --only headline --attack '*-l2' --model adv-l2,ir --executor ray
stage "pgd-l2" --only attacks --attack pgd-l2 --executor ray
stage "fgsm-linf" --only attacks --attack fgsm-linf --executor ray  # Ross & Doshi-Velez's table, for every model
if [ ! -f /root/rib-zoo/claims-written ]; then
  python -c "from rib import verify; [print('claims:', c.id, len(c.claims)) for c in verify.write_zoo_claims('mnist', 'results')]" && touch /root/rib-zoo/claims-written
fi
stage "headline" --only headline --executor ray  # the l2 headline of the other models
for n in 100 200; do
  for m in $IDS; do
    [ -f /root/rib-zoo/verified-$n-$m ] && continue
    echo "=== verify $m n=$n $(date -u +%FT%T)"
    rib verify models/mnist/$m.toml --n $n --quiet > /root/rib-zoo/verify-$n-$m.txt 2>&1
    echo "=== end verify $m n=$n rc=$? $(date -u +%FT%T)"; touch /root/rib-zoo/verified-$n-$m
  done
done
stage "grid" --executor ray
