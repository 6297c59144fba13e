/*
 * commands.h: the subcommands of lshlab-native, the C++ test and bench driver that builds with
 * CMake alone (for GPU machines without Node). Each returns a process exit code; bad arguments
 * print a clear error to stderr and return 2.
 */
#pragma once

int cmd_test(int argc, char** argv);             // lshlab-native test [prefix]
int cmd_check(int argc, char** argv);            // lshlab-native check [prefix]
int cmd_bench_gemm(int argc, char** argv);       // lshlab-native bench-gemm --m --n --k [--openblas] [--json]
int cmd_bench_train(int argc, char** argv);      // lshlab-native bench-train --seq --batch [--steps] [--json]
int cmd_dump_reference(int argc, char** argv);
int cmd_init_from(int argc, char** argv);        // lshlab-native init-from --from SRC --task T --batch FILE --out DIR
int cmd_bench_peak(int argc, char** argv);
int cmd_bench_attention(int argc, char** argv);   // lshlab-native bench-attention [--paper-table1|--sweep|--scaling|--collisions] ...
int cmd_dump_attention(int argc, char** argv);   // lshlab-native dump-attention --variant V --out FILE        // lshlab-native bench-peak [--json]   // lshlab-native dump-reference --task T --out DIR
int cmd_optimizer_trace(int argc, char** argv);  // lshlab-native optimizer-trace --spec FILE [--out FILE] | --layout TASK
int cmd_info(int argc, char** argv);             // lshlab-native info [--json]
int cmd_bench_cuda(int argc, char** argv);       // lshlab-native bench-cuda [--json] [--quick]
int cmd_bench_attention_cuda(int argc, char** argv);  // bench-attention --device cuda --scaling (via cmd_bench_attention)
