"""Pure-Python specifications: the model config, the training options (with the metadata of every
flag) and the model folder's layout. No torch, no numpy, no UI: every layer may import this."""
