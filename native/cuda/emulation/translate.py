# translate.py FILE.cu: prints FILE rewritten for the host emulation (cuda_runtime_api.h here):
# each `kernel<<<grid, block, smem, stream>>>(args)` becomes emu::launch(emu::key(kernel),
# "kernel", grid, block, smem, stream, kernel, std::make_tuple(args)) (the key finds the kernel's
# cudaFuncSetAttribute opt-in), the dynamic shared-memory declaration a pointer into emu::dyn, and
# includes of .cuh files point at their rewritten copies. The arguments are evaluated and copied
# into the tuple at the launch, as CUDA copies kernel parameters: a launch recorded into a graph
# (stream capture) replays with those values, never with the caller's later (or dead) locals.
import re, sys
src = open(sys.argv[1]).read()
src = src.replace('extern __shared__ float smem[];', 'float* smem = reinterpret_cast<float*>(emu::dyn.data());')
src = src.replace('.cuh"', '.cuh.cc"')
out, i = [], 0
while True:
    j = src.find('<<<', i)
    if j < 0:
        out.append(src[i:]); break
    k = j
    while k > 0 and (src[k-1].isalnum() or src[k-1] == '_'): k -= 1
    name = src[k:j]
    e = src.find('>>>', j)
    cfg = src[j+3:e]
    parts, depth, cur = [], 0, ''
    for ch in cfg:
        if ch in '([': depth += 1
        if ch in ')]': depth -= 1
        if ch == ',' and depth == 0: parts.append(cur); cur = ''
        else: cur += ch
    parts.append(cur)
    assert src[e+3] == '(', name
    depth, p = 0, e+3
    while True:
        if src[p] == '(': depth += 1
        elif src[p] == ')':
            depth -= 1
            if depth == 0: break
        p += 1
    args = src[e+4:p]
    out.append(src[i:k])
    assert name, 'a launch needs a plain kernel name or pointer before <<<'
    smem = parts[2] if len(parts) > 2 else '0'
    strm = parts[3] if len(parts) > 3 else 'nullptr'
    out.append('emu::launch(emu::key(%s), "%s", dim3(%s), dim3(%s), size_t(%s), cudaStream_t(%s), %s, std::make_tuple(%s))'
               % (name, name, parts[0], parts[1], smem, strm, name, args))
    i = p + 1
print(''.join(out))
