"""Hugging Face BERT weights into Google's checkpoint layout (`convert_checkpoint.py`).

    huggingface_weights  reads an HF BERT directory: config.json and the weights
    huggingface_cache    finds a model id in the local Hugging Face cache, offline
    name_map             how an HF BERT maps onto Google's: config fields and variable names
    convert_cli          the conversion and its command line
    verify               `--verify`: the converted checkpoint against a NumPy forward pass
"""
