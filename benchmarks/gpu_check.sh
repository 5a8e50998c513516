#!/usr/bin/env bash
# One prepared run for a lent GPU machine (a few minutes): agreement with the CPU, scoring and
# training throughput. Results go to $OUT (the device tool's output folder) or ./gpu-results.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-results}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv > "$out/gpu.csv" || true
for model in paper paper-hard; do  # agreement with the CPU in fp32 and bf16 (and fp16)
    python benchmarks/device_agreement.py --device cuda --n 2000 --model "$model" \
        | tee "$out/agreement_$model.json"
done
for precision in fp32 bf16; do  # end to end and model only, batch sized from free memory
    python benchmarks/score_throughput.py --n 16384 --device cuda --precision "$precision" \
        --batch-size auto --sizes paper | tee "$out/score_$precision.json"
done
for batch in 256 auto; do  # the same with --cuda-graphs (full passes replayed from a graph)
    python benchmarks/score_throughput.py --n 16384 --device cuda --precision fp32 \
        --batch-size "$batch" --sizes paper --cuda-graphs | tee "$out/score_graphs_$batch.json"
done
(cd benchmarks && python cuda_graphs.py --device cuda --n 8192 --batches 64,256,1024) \
    | tee "$out/cuda_graphs.json"  # graphs off/on, model only: variants/s and bit equality
python benchmarks/pvalue_device.py --device cuda --passes 50 \
    | tee "$out/pvalue_device.json"  # background p-values on the GPU vs numpy on the host
python benchmarks/pipeline_capacity.py --n 20000 --tasks 690 --formats vcf.gz,tsv,parquet \
    | tee "$out/pipeline_capacity_690.json"  # the host CPU's bound on end-to-end variants/s
python benchmarks/train_throughput.py --device cuda | tee "$out/train.json"
