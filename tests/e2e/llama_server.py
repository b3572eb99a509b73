"""`python -m llama_cpp.server`, with llama.cpp's extra CPU buffer types turned off.

pip compiles llama-cpp-python for the CPU it builds on. On a Xeon with AMX that build multiplies Q4_K weights with
the AMX kernel, which segfaults in `ggml_backend_amx_mul_mat` on the first request with this model (seen with
0.3.36, one and two threads). The AMX kernel and the weight repacking only run through the "extra buffer types"
of llama.cpp's model parameters; llama-cpp-python has no flag for them, so this launcher sets the parameter before
the server loads the model. Any build then serves, whatever CPU it was compiled on (the CI machine reuses a wheel
pip built and cached on whichever machine ran first).
"""

import llama_cpp.llama_cpp as bindings
from llama_cpp.server.__main__ import main

_default_params = bindings.llama_model_default_params


def _without_extra_buffer_types():
    params = _default_params()
    params.use_extra_bufts = False
    return params


if __name__ == "__main__":
    bindings.llama_model_default_params = _without_extra_buffer_types
    main()
