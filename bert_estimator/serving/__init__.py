"""A fine-tuned classifier as a SavedModel, and predictions on raw text from it.

    saved_model     the export (numbered versions, TF Serving's layout) and its checks
    text_signature  in-graph tokenization with core TensorFlow ops (`serving_text`)
    predictor       `load_predictor`: an export loaded once, classifying raw texts
    predict_cli     the command line of `predict.py`
"""
