"""Programs around the main one; the top layer (only their top-level wrappers import them).

    demo       the main job end to end, offline: fine-tune, evaluate, predict, serve (`demo.py`)
    gpu_check  the GPU code paths checked against the CPU on the user's machine (`gpu_check.py`)
    fetch      GLUE's data and Google's BERT checkpoints, resumable and verified (`fetch.py`)
"""
