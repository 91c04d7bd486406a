#!/usr/bin/env bash
# The zoo, trained in this order; a finished card is skipped, a cut training resumes from its checkpoint.
cd /work/main
export RIB_DATA_DIR=/work/shared/data
for m in standard adv-linf adv-l2 proper-int2 proper-int ir gradient-reg l1 lipschitz-1e-3 lipschitz-1e-2 lipschitz-1e-1 lipschitz-1; do
  if [ -f /root/rib-zoo/mnist/$m.toml ]; then echo "skip $m"; continue; fi
  echo "=== $m $(date -u +%FT%T)"
  /usr/bin/time -v rib train --model $m --dataset mnist --out /root/rib-zoo --device cpu 2>&1 | grep --line-buffered -v "^\s" 
  echo "=== end $m rc=${PIPESTATUS[0]} $(date -u +%FT%T)"
done
