"""The model side: loading a DiffusionGemma checkpoint (the embedded Gemma 3 derivative, a local folder or a hub
id), its tokens and prompt formats, the block-diffusion sampler and the encoder's greedy decoding. Knows nothing of
documents or editors."""
