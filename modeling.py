"""The BERT model: embeddings, a Transformer encoder and a pooler, in TF1-style graph code.

This is the model of `google-research/bert` (`modeling.py`) on TensorFlow 2.15's
`tf.compat.v1`, graph mode, default resource variables. It builds the same graph
computation, with the same variable names, shapes, creation order and initializers as
the original, so Google's released checkpoints (and the ones the original wrote) load
into it unchanged through `get_assignment_map_from_checkpoint`:

    bert/embeddings/{word_embeddings, token_type_embeddings, position_embeddings}
    bert/embeddings/LayerNorm/{beta, gamma}
    bert/encoder/layer_<i>/attention/self/{query, key, value}/{kernel, bias}
    bert/encoder/layer_<i>/attention/output/dense/{kernel, bias}
    bert/encoder/layer_<i>/attention/output/LayerNorm/{beta, gamma}
    bert/encoder/layer_<i>/intermediate/dense/{kernel, bias}
    bert/encoder/layer_<i>/output/dense/{kernel, bias}
    bert/encoder/layer_<i>/output/LayerNorm/{beta, gamma}
    bert/pooler/dense/{kernel, bias}

Differences from the original, none of which changes a number:

* `layer_norm` is written out with `tf.get_variable` (contrib's `layer_norm` is gone
  from TF 2.x); it computes what contrib computed (moments over the last axis, epsilon
  1e-12) under the same `LayerNorm/beta`, `LayerNorm/gamma` names.
* Dense layers are a small `tf.get_variable` + `tf.matmul` helper with the variable
  names of `tf.layers.dense` (`kernel`, `bias`).
* Invalid configurations and inputs raise one-line `ValueError`s at graph-construction
  time (sequence longer than `max_position_embeddings`, `hidden_size` not divisible by
  `num_attention_heads`, wrong input rank).

Usage::

    config = modeling.BertConfig.from_json_file("bert_config.json")
    model = modeling.BertModel(config, is_training=True, input_ids=input_ids,
                               input_mask=input_mask, token_type_ids=segment_ids)
    pooled = model.get_pooled_output()  # [batch_size, hidden_size]
"""

from __future__ import annotations

import collections
import copy
import json
import math
import re

import numpy as np
import tensorflow.compat.v1 as tf

# Dimension names used in the shape comments below:
#   B = batch size (number of sequences)
#   S = sequence length (F and T when the from/to sequences of attention may differ)
#   F = `from_tensor` sequence length
#   T = `to_tensor` sequence length
#   D = hidden size (width of every encoder layer)
#   N = number of attention heads
#   H = size per head (D // N)
#   I = intermediate (feed-forward) size
#   V = vocabulary size


class BertConfig:
    """Architecture hyper-parameters of a `BertModel` (the `bert_config.json` fields)."""

    def __init__(self,
                 vocab_size,
                 hidden_size=768,
                 num_hidden_layers=12,
                 num_attention_heads=12,
                 intermediate_size=3072,
                 hidden_act="gelu",
                 hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1,
                 max_position_embeddings=512,
                 type_vocab_size=16,
                 initializer_range=0.02):
        """Builds a configuration; the defaults are BERT-Base's except `type_vocab_size`.

        Args:
          vocab_size: int, number of WordPiece ids `input_ids` can hold.
          hidden_size: int, width D of the embeddings, every encoder layer and the pooler.
          num_hidden_layers: int, number of Transformer blocks.
          num_attention_heads: int, heads per self-attention layer; must divide
            `hidden_size`.
          intermediate_size: int, width I of the feed-forward layer of each block.
          hidden_act: str or callable, activation of the feed-forward layer ("gelu",
            "relu", "tanh", "linear"); see `get_activation`.
          hidden_dropout_prob: float, dropout probability after the embeddings and
            after every dense projection that feeds a residual connection.
          attention_probs_dropout_prob: float, dropout probability on the attention
            probabilities.
          max_position_embeddings: int, rows of the position embedding table: the
            longest sequence the model accepts.
          type_vocab_size: int, number of segment ids `token_type_ids` can hold
            (Google's released models use 2).
          initializer_range: float, stddev of the truncated normal that initialises
            every weight matrix.
        """
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.hidden_act = hidden_act
        self.intermediate_size = intermediate_size
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range

    @classmethod
    def from_dict(cls, json_object):
        """Builds a `BertConfig` from a dict; every key becomes an attribute (unknown
        keys are kept, as the original did)."""
        config = cls(vocab_size=None)
        for key, value in json_object.items():
            config.__dict__[key] = value
        return config

    @classmethod
    def from_json_file(cls, json_file):
        """Builds a `BertConfig` from a JSON file (any path `tf.io.gfile` reads, gs:// too)."""
        with tf.io.gfile.GFile(json_file, "r") as reader:
            return cls.from_dict(json.loads(reader.read()))

    def to_dict(self):
        """Returns a deep copy of the attributes as a dict."""
        return copy.deepcopy(self.__dict__)

    def to_json_string(self):
        """Returns the attributes as indented JSON with sorted keys and a final newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


class BertModel:
    """BERT ("Bidirectional Encoder Representations from Transformers").

    Builds, in the current graph and under variable scope `scope` (default "bert"):
    embeddings (word + segment + position, then LayerNorm and dropout), a stack of
    `num_hidden_layers` Transformer encoder blocks, and a pooler (dense + tanh on the
    first token's final hidden state).

    Example::

        input_ids = tf.constant([[31, 51, 99], [15, 5, 0]])       # [B, S]
        input_mask = tf.constant([[1, 1, 1], [1, 1, 0]])          # 1 = real token
        token_type_ids = tf.constant([[0, 0, 1], [0, 1, 0]])      # segment A/B
        config = modeling.BertConfig(vocab_size=32000, hidden_size=512,
                                     num_hidden_layers=8, num_attention_heads=8,
                                     intermediate_size=1024)
        model = modeling.BertModel(config=config, is_training=True, input_ids=input_ids,
                                   input_mask=input_mask, token_type_ids=token_type_ids)
        logits = tf.matmul(model.get_pooled_output(), output_weights)
    """

    def __init__(self,
                 config,
                 is_training,
                 input_ids,
                 input_mask=None,
                 token_type_ids=None,
                 use_one_hot_embeddings=False,
                 scope=None):
        """Builds the model graph.

        Args:
          config: `BertConfig`.
          is_training: bool; False sets both dropout probabilities to 0 (evaluation and
            prediction).
          input_ids: int32 Tensor of shape [batch_size, seq_length], WordPiece ids.
          input_mask: (optional) int32 Tensor of shape [batch_size, seq_length], 1 for
            real tokens and 0 for padding; padding is never attended to. Default: all 1.
          token_type_ids: (optional) int32 Tensor of shape [batch_size, seq_length],
            segment ids (0 for sentence A, 1 for sentence B). Default: all 0.
          use_one_hot_embeddings: bool; True looks words up by a one-hot matmul (fast on
            TPU), False by `tf.gather`. Same numbers either way.
          scope: (optional) str, variable scope; default "bert".

        Raises:
          ValueError: `input_ids` is not rank 2, the sequence is longer than
            `config.max_position_embeddings`, or `config.hidden_size` is not a multiple
            of `config.num_attention_heads`.
        """
        config = copy.deepcopy(config)
        if not is_training:
            config.hidden_dropout_prob = 0.0
            config.attention_probs_dropout_prob = 0.0

        input_shape = get_shape_list(input_ids, expected_rank=2)
        batch_size = input_shape[0]
        seq_length = input_shape[1]

        if input_mask is None:
            input_mask = tf.ones(shape=[batch_size, seq_length], dtype=tf.int32)
        if token_type_ids is None:
            token_type_ids = tf.zeros(shape=[batch_size, seq_length], dtype=tf.int32)

        # names kept ("bert", "embeddings", "encoder", "pooler"): checkpoints use them.
        with tf.variable_scope(scope, default_name="bert"):
            with tf.variable_scope("embeddings"):
                # [B, S, D] word vectors, and the [V, D] table (shared with an MLM head).
                self.word_embedding_output, self.embedding_table = embedding_lookup(
                    input_ids=input_ids,
                    vocab_size=config.vocab_size,
                    embedding_size=config.hidden_size,
                    initializer_range=config.initializer_range,
                    word_embedding_name="word_embeddings",
                    use_one_hot_embeddings=use_one_hot_embeddings)

                # + segment and position vectors, then LayerNorm and dropout: [B, S, D].
                self.embedding_output = embedding_postprocessor(
                    input_tensor=self.word_embedding_output,
                    use_token_type=True,
                    token_type_ids=token_type_ids,
                    token_type_vocab_size=config.type_vocab_size,
                    token_type_embedding_name="token_type_embeddings",
                    use_position_embeddings=True,
                    position_embedding_name="position_embeddings",
                    initializer_range=config.initializer_range,
                    max_position_embeddings=config.max_position_embeddings,
                    dropout_prob=config.hidden_dropout_prob)

            with tf.variable_scope("encoder"):
                # [B, S] padding mask -> [B, S, S]: which positions each position sees.
                attention_mask = create_attention_mask_from_input_mask(input_ids, input_mask)

                # One [B, S, D] tensor per block.
                self.all_encoder_layers = transformer_model(
                    input_tensor=self.embedding_output,
                    attention_mask=attention_mask,
                    hidden_size=config.hidden_size,
                    num_hidden_layers=config.num_hidden_layers,
                    num_attention_heads=config.num_attention_heads,
                    intermediate_size=config.intermediate_size,
                    intermediate_act_fn=get_activation(config.hidden_act),
                    hidden_dropout_prob=config.hidden_dropout_prob,
                    attention_probs_dropout_prob=config.attention_probs_dropout_prob,
                    initializer_range=config.initializer_range,
                    do_return_all_layers=True)

            self.sequence_output = self.all_encoder_layers[-1]  # [B, S, D]

            # The pooler turns the sequence into one [B, D] vector for sentence(-pair)
            # classification: dense + tanh on the first token ([CLS]), the way it was
            # pre-trained (next-sentence prediction).
            with tf.variable_scope("pooler"):
                first_token_tensor = tf.squeeze(self.sequence_output[:, 0:1, :], axis=1)  # [B, D]
                self.pooled_output = _dense(
                    first_token_tensor,
                    config.hidden_size,
                    activation=tf.tanh,
                    kernel_initializer=create_initializer(config.initializer_range),
                    name="dense")

    def get_pooled_output(self):
        """Returns float32 Tensor of shape [batch_size, hidden_size]: dense + tanh of
        the first token's final hidden state."""
        return self.pooled_output

    def get_sequence_output(self):
        """Returns float32 Tensor of shape [batch_size, seq_length, hidden_size]: the
        final encoder layer."""
        return self.sequence_output

    def get_all_encoder_layers(self):
        """Returns a list of `num_hidden_layers` float32 Tensors of shape
        [batch_size, seq_length, hidden_size], one per encoder block, first to last."""
        return self.all_encoder_layers

    def get_word_embedding_output(self):
        """Returns float32 Tensor of shape [batch_size, seq_length, hidden_size]: the
        word embeddings alone, before segment/position vectors and LayerNorm."""
        return self.word_embedding_output

    def get_embedding_output(self):
        """Returns float32 Tensor of shape [batch_size, seq_length, hidden_size]: word +
        segment + position embeddings after LayerNorm and dropout, the encoder's input."""
        return self.embedding_output

    def get_embedding_table(self):
        """Returns the float32 word embedding variable of shape [vocab_size, hidden_size]."""
        return self.embedding_table


def gelu(x):
    """Gaussian Error Linear Unit, the tanh approximation BERT was pre-trained with.

    gelu(x) = x * 0.5 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
    (Hendrycks & Gimpel, https://arxiv.org/abs/1606.08415). It differs from the exact
    erf form by up to ~5e-4; the checkpoints expect this one.

    Args:
      x: float Tensor of any shape.

    Returns:
      float Tensor of the shape of `x`.
    """
    cdf = 0.5 * (1.0 + tf.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * tf.pow(x, 3))))
    return x * cdf


def get_activation(activation_string):
    """Maps an activation name to a function: "gelu", "relu", "tanh"; "linear", "" and
    None map to None (no activation).

    Args:
      activation_string: str (case-insensitive), None, or already a callable (returned
        unchanged).

    Returns:
      A function Tensor -> Tensor, or None.

    Raises:
      ValueError: unknown activation name.
    """
    if not isinstance(activation_string, str):
        return activation_string
    if not activation_string:
        return None
    act = activation_string.lower()
    activations = {"linear": None, "relu": tf.nn.relu, "gelu": gelu, "tanh": tf.tanh}
    if act not in activations:
        raise ValueError(f"Unsupported activation: {act!r} (hidden_act must be one of "
                         f"{', '.join(sorted(activations))})")
    return activations[act]


def get_assignment_map_from_checkpoint(tvars, init_checkpoint):
    """Matches graph variables with checkpoint variables by name.

    Args:
      tvars: list of variables (usually `tf.trainable_variables()`).
      init_checkpoint: str, checkpoint prefix (e.g. ".../bert_model.ckpt").

    Returns:
      (assignment_map, initialized_variable_names): an OrderedDict {checkpoint name:
      variable name} (the two are equal) for every checkpoint variable that is also in
      `tvars`, in checkpoint order, ready for `tf.train.init_from_checkpoint`; and a
      dict whose keys are those names both bare and with ":0" (value 1), to test
      `var.name in initialized_variable_names`.
    """
    name_to_variable = collections.OrderedDict()
    for var in tvars:
        name = re.sub(r":\d+$", "", var.name)  # "bert/x/kernel:0" -> "bert/x/kernel"
        name_to_variable[name] = var

    assignment_map = collections.OrderedDict()
    initialized_variable_names = {}
    for name, _ in tf.train.list_variables(init_checkpoint):
        if name not in name_to_variable:
            continue
        assignment_map[name] = name
        initialized_variable_names[name] = 1
        initialized_variable_names[name + ":0"] = 1
    return assignment_map, initialized_variable_names


def dropout(input_tensor, dropout_prob):
    """Applies dropout.

    Args:
      input_tensor: float Tensor.
      dropout_prob: float, probability of DROPPING a value (not of keeping it); None or
        0.0 returns `input_tensor` itself.

    Returns:
      float Tensor of the shape of `input_tensor`.
    """
    if dropout_prob is None or dropout_prob == 0.0:
        return input_tensor
    return tf.nn.dropout(input_tensor, rate=dropout_prob)


def layer_norm(input_tensor, name=None):
    """Layer normalization over the last axis, with a learned offset and scale.

    Computes what `tf.contrib.layers.layer_norm(begin_norm_axis=-1,
    begin_params_axis=-1)` did: mean and variance over the last axis (`tf.nn.moments`),
    then `(x - mean) / sqrt(variance + 1e-12) * gamma + beta`.

    Args:
      input_tensor: float Tensor of shape [..., D].
      name: (optional) str, variable scope; default "LayerNorm" (uniquified like
        contrib did when used twice in one scope).

    Returns:
      float Tensor of the shape of `input_tensor`.
    """
    width = tf.compat.dimension_value(input_tensor.shape[-1])
    # names kept ("LayerNorm", "beta", "gamma", beta created first): checkpoints use them.
    with tf.variable_scope(name, default_name="LayerNorm"):
        beta = tf.get_variable("beta", shape=[width], initializer=tf.zeros_initializer())
        gamma = tf.get_variable("gamma", shape=[width], initializer=tf.ones_initializer())
        mean, variance = tf.nn.moments(input_tensor, axes=[-1], keepdims=True)  # [..., 1]
        return tf.nn.batch_normalization(
            input_tensor, mean, variance, offset=beta, scale=gamma, variance_epsilon=1e-12)


def layer_norm_and_dropout(input_tensor, dropout_prob, name=None):
    """`layer_norm`, then `dropout`; same shape as `input_tensor`."""
    output_tensor = layer_norm(input_tensor, name)
    return dropout(output_tensor, dropout_prob)


def create_initializer(initializer_range=0.02):
    """Returns the weight initializer: truncated normal with stddev `initializer_range`."""
    return tf.truncated_normal_initializer(stddev=initializer_range)


def _output_sublayer(input_tensor, residual, hidden_size, hidden_dropout_prob, initializer_range):
    """A block's sublayer output: LayerNorm(dropout(dense D(input_tensor)) + residual).

    Called inside the sublayer's "output" scope, so its variables are the original's
    `output/dense/{kernel, bias}` and `output/LayerNorm/{beta, gamma}`.

    Args:
      input_tensor: float Tensor of shape [B*S, W] (W = D after attention, I after the
        intermediate layer).
      residual: float Tensor of shape [B*S, D], the sublayer's input.
      hidden_size: int, D.
      hidden_dropout_prob: float, dropout probability after the projection.
      initializer_range: float, stddev of the kernel's initializer.

    Returns:
      float Tensor of shape [B*S, D].
    """
    output = _dense(input_tensor, hidden_size, kernel_initializer=create_initializer(initializer_range))
    output = dropout(output, hidden_dropout_prob)
    return layer_norm(output + residual)


def _dense(input_tensor, units, activation=None, kernel_initializer=None, name="dense"):
    """Fully connected layer on the last axis: activation(x @ kernel + bias).

    The variables are those `tf.layers.dense` made (`<name>/kernel` of shape
    [in, units], then `<name>/bias` of shape [units], zeros).

    Args:
      input_tensor: float Tensor of shape [M, in].
      units: int, output width.
      activation: (optional) function applied to the result.
      kernel_initializer: (optional) initializer of the kernel.
      name: str, variable scope.

    Returns:
      float Tensor of shape [M, units].
    """
    in_width = get_shape_list(input_tensor, expected_rank=2)[-1]
    # names kept ("kernel", "bias"): checkpoints use them.
    with tf.variable_scope(name):
        kernel = tf.get_variable("kernel", shape=[in_width, units], initializer=kernel_initializer)
        bias = tf.get_variable("bias", shape=[units], initializer=tf.zeros_initializer())
        output = tf.nn.bias_add(tf.matmul(input_tensor, kernel), bias)  # [M, units]
        if activation is not None:
            output = activation(output)
        return output


def embedding_lookup(input_ids,
                     vocab_size,
                     embedding_size=128,
                     initializer_range=0.02,
                     word_embedding_name="word_embeddings",
                     use_one_hot_embeddings=False):
    """Looks up word embeddings, creating the table `word_embedding_name`.

    Args:
      input_ids: int32 Tensor of shape [batch_size, seq_length] (or
        [batch_size, seq_length, num_inputs], whose vectors are concatenated).
      vocab_size: int, rows V of the table.
      embedding_size: int, width E of the table.
      initializer_range: float, stddev of the table's truncated normal initializer.
      word_embedding_name: str, name of the table variable.
      use_one_hot_embeddings: bool; True: one-hot [*, V] matmul (TPU friendly), False:
        `tf.gather`.

    Returns:
      (output, embedding_table): float32 Tensor of shape
      [batch_size, seq_length, embedding_size * num_inputs], and the [V, E] variable.
    """
    # A [B, S] id matrix is treated as [B, S, 1]: one id per position.
    if input_ids.shape.ndims == 2:
        input_ids = tf.expand_dims(input_ids, axis=[-1])

    embedding_table = tf.get_variable(
        name=word_embedding_name,
        shape=[vocab_size, embedding_size],
        initializer=create_initializer(initializer_range))

    flat_input_ids = tf.reshape(input_ids, [-1])  # [B * S * num_inputs]
    if use_one_hot_embeddings:
        one_hot_input_ids = tf.one_hot(flat_input_ids, depth=vocab_size)  # [B*S, V]
        output = tf.matmul(one_hot_input_ids, embedding_table)  # [B*S, E]
    else:
        output = tf.gather(embedding_table, flat_input_ids)  # [B*S, E]

    input_shape = get_shape_list(input_ids)  # [B, S, num_inputs]
    output = tf.reshape(output, input_shape[0:-1] + [input_shape[-1] * embedding_size])  # [B, S, E]
    return output, embedding_table


def embedding_postprocessor(input_tensor,
                            use_token_type=False,
                            token_type_ids=None,
                            token_type_vocab_size=16,
                            token_type_embedding_name="token_type_embeddings",
                            use_position_embeddings=True,
                            position_embedding_name="position_embeddings",
                            initializer_range=0.02,
                            max_position_embeddings=512,
                            dropout_prob=0.1):
    """Adds segment and position embeddings to word embeddings, then LayerNorm + dropout.

    Args:
      input_tensor: float Tensor of shape [batch_size, seq_length, embedding_size].
      use_token_type: bool, add the `token_type_ids` embeddings.
      token_type_ids: (optional) int32 Tensor of shape [batch_size, seq_length];
        required when `use_token_type`.
      token_type_vocab_size: int, rows of the segment table.
      token_type_embedding_name: str, name of the segment table variable.
      use_position_embeddings: bool, add learned absolute position embeddings.
      position_embedding_name: str, name of the position table variable.
      initializer_range: float, stddev of the tables' truncated normal initializer.
      max_position_embeddings: int, rows of the position table; `seq_length` may not
        exceed it.
      dropout_prob: float, dropout probability on the result.

    Returns:
      float Tensor of the shape of `input_tensor`.

    Raises:
      ValueError: `input_tensor` is not rank 3, `token_type_ids` is missing, or the
        sequence is longer than `max_position_embeddings`.
    """
    input_shape = get_shape_list(input_tensor, expected_rank=3)
    batch_size = input_shape[0]
    seq_length = input_shape[1]
    width = input_shape[2]

    output = input_tensor  # [B, S, D]

    if use_token_type:
        if token_type_ids is None:
            raise ValueError("`token_type_ids` must be given when `use_token_type` is True.")
        token_type_table = tf.get_variable(
            name=token_type_embedding_name,
            shape=[token_type_vocab_size, width],
            initializer=create_initializer(initializer_range))
        # The segment vocabulary is tiny: a one-hot matmul is the fast lookup everywhere.
        flat_token_type_ids = tf.reshape(token_type_ids, [-1])  # [B * S]
        one_hot_ids = tf.one_hot(flat_token_type_ids, depth=token_type_vocab_size)  # [B*S, types]
        token_type_embeddings = tf.matmul(one_hot_ids, token_type_table)  # [B*S, D]
        token_type_embeddings = tf.reshape(token_type_embeddings, [batch_size, seq_length, width])
        output += token_type_embeddings

    if use_position_embeddings:
        if isinstance(seq_length, int) and seq_length > max_position_embeddings:
            raise ValueError(
                f"Sequence length {seq_length} is longer than max_position_embeddings "
                f"{max_position_embeddings} of the BERT config: use --max_seq_length <= "
                f"{max_position_embeddings} (or a model pre-trained with more positions).")
        full_position_embeddings = tf.get_variable(
            name=position_embedding_name,
            shape=[max_position_embeddings, width],
            initializer=create_initializer(initializer_range))
        checks = []
        if not isinstance(seq_length, int):  # known only when the graph runs
            checks.append(tf.debugging.assert_less_equal(
                seq_length, max_position_embeddings,
                message=f"Sequence length is longer than max_position_embeddings "
                        f"({max_position_embeddings}) of the BERT config"))
        with tf.control_dependencies(checks):
            # The table has a row per position up to max_position_embeddings; a
            # sequence of length S uses rows 0 .. S-1.
            position_embeddings = tf.slice(full_position_embeddings, [0, 0], [seq_length, -1])  # [S, D]
        # Broadcast over the batch (and any other leading) dimensions: [1, S, D].
        num_dims = len(output.shape.as_list())
        position_embeddings = tf.reshape(position_embeddings, [1] * (num_dims - 2) + [seq_length, width])
        output += position_embeddings

    return layer_norm_and_dropout(output, dropout_prob)


def create_attention_mask_from_input_mask(from_tensor, to_mask):
    """Expands a [batch_size, to_seq_length] padding mask to a 3D attention mask.

    Every `from` position may attend to every real `to` position; whether the `from`
    position is itself padding does not matter (its output is ignored downstream).

    Args:
      from_tensor: Tensor of shape [batch_size, from_seq_length] or
        [batch_size, from_seq_length, ...]; only its shape is used.
      to_mask: int32 Tensor of shape [batch_size, to_seq_length], 1 = real token.

    Returns:
      float32 Tensor of shape [batch_size, from_seq_length, to_seq_length] of 1.0/0.0.
    """
    from_shape = get_shape_list(from_tensor, expected_rank=[2, 3])
    batch_size = from_shape[0]
    from_seq_length = from_shape[1]
    to_seq_length = get_shape_list(to_mask, expected_rank=2)[1]

    to_mask = tf.cast(tf.reshape(to_mask, [batch_size, 1, to_seq_length]), tf.float32)  # [B, 1, T]
    broadcast_ones = tf.ones(shape=[batch_size, from_seq_length, 1], dtype=tf.float32)  # [B, F, 1]
    return broadcast_ones * to_mask  # [B, F, T]


def attention_layer(from_tensor,
                    to_tensor,
                    attention_mask=None,
                    num_attention_heads=1,
                    size_per_head=512,
                    query_act=None,
                    key_act=None,
                    value_act=None,
                    attention_probs_dropout_prob=0.0,
                    initializer_range=0.02,
                    do_return_2d_tensor=False,
                    batch_size=None,
                    from_seq_length=None,
                    to_seq_length=None):
    """Multi-head scaled dot-product attention from `from_tensor` to `to_tensor`
    ("Attention Is All You Need"); self-attention when both are the same tensor.

    `from_tensor` is projected to N query heads and `to_tensor` to N key and N value
    heads of width H; each head's scores are softmax(Q K^T / sqrt(H) + mask adder),
    and the heads' probability-weighted values are concatenated back to N * H.

    Args:
      from_tensor: float Tensor of shape [batch_size, from_seq_length, from_width], or
        [batch_size * from_seq_length, from_width] with the three sizes below given.
      to_tensor: float Tensor of shape [batch_size, to_seq_length, to_width], or
        [batch_size * to_seq_length, to_width]; same rank as `from_tensor`.
      attention_mask: (optional) int32 or float Tensor of shape
        [batch_size, from_seq_length, to_seq_length] of 1 (may attend) / 0 (may not);
        masked scores get -10000 added, so their probability is ~0.
      num_attention_heads: int, N.
      size_per_head: int, H.
      query_act, key_act, value_act: (optional) activations of the projections.
      attention_probs_dropout_prob: float, dropout probability on the attention
        probabilities.
      initializer_range: float, stddev of the projection kernels' initializer.
      do_return_2d_tensor: bool, return [B * F, N * H] instead of [B, F, N * H].
      batch_size, from_seq_length, to_seq_length: (optional) ints, required when the
        inputs are rank 2.

    Returns:
      float Tensor of shape [batch_size, from_seq_length, num_attention_heads *
      size_per_head], or [batch_size * from_seq_length, num_attention_heads *
      size_per_head] if `do_return_2d_tensor`.

    Raises:
      ValueError: the ranks of the inputs are invalid or differ, or rank-2 inputs come
        without the three sizes.
    """
    from_shape = get_shape_list(from_tensor, expected_rank=[2, 3])
    to_shape = get_shape_list(to_tensor, expected_rank=[2, 3])
    if len(from_shape) != len(to_shape):
        raise ValueError(f"from_tensor has rank {len(from_shape)} but to_tensor has rank "
                         f"{len(to_shape)}; attention_layer needs equal ranks.")
    if len(from_shape) == 3:
        batch_size = from_shape[0]
        from_seq_length = from_shape[1]
        to_seq_length = to_shape[1]
    elif batch_size is None or from_seq_length is None or to_seq_length is None:
        raise ValueError("attention_layer with rank-2 inputs needs batch_size, "
                         "from_seq_length and to_seq_length.")

    # B = batch size, F = from_tensor sequence length, T = to_tensor sequence length,
    # N = heads, H = size per head.
    from_tensor_2d = reshape_to_matrix(from_tensor)  # [B*F, from_width]
    to_tensor_2d = reshape_to_matrix(to_tensor)  # [B*T, to_width]

    # names kept ("query", "key", "value"): checkpoints use them.
    initializer = create_initializer(initializer_range)
    query_layer = _dense(from_tensor_2d, num_attention_heads * size_per_head,
                         activation=query_act, kernel_initializer=initializer, name="query")  # [B*F, N*H]
    key_layer = _dense(to_tensor_2d, num_attention_heads * size_per_head,
                       activation=key_act, kernel_initializer=initializer, name="key")  # [B*T, N*H]
    value_layer = _dense(to_tensor_2d, num_attention_heads * size_per_head,
                         activation=value_act, kernel_initializer=initializer, name="value")  # [B*T, N*H]

    def split_heads(tensor_2d, seq_length):
        """[B*S, N*H] -> [B, N, S, H]."""
        tensor = tf.reshape(tensor_2d, [batch_size, seq_length, num_attention_heads, size_per_head])
        return tf.transpose(tensor, [0, 2, 1, 3])

    query_layer = split_heads(query_layer, from_seq_length)  # [B, N, F, H]
    key_layer = split_heads(key_layer, to_seq_length)  # [B, N, T, H]
    value_layer = split_heads(value_layer, to_seq_length)  # [B, N, T, H]

    attention_scores = tf.matmul(query_layer, key_layer, transpose_b=True)  # [B, N, F, T]
    attention_scores = tf.multiply(attention_scores, 1.0 / math.sqrt(float(size_per_head)))

    if attention_mask is not None:
        attention_mask = tf.expand_dims(attention_mask, axis=[1])  # [B, 1, F, T]
        # 0.0 where attending is allowed, -10000.0 where not: after the softmax the
        # masked positions weigh ~exp(-10000), i.e. nothing.
        adder = (1.0 - tf.cast(attention_mask, tf.float32)) * -10000.0
        attention_scores += adder

    attention_probs = tf.nn.softmax(attention_scores)  # [B, N, F, T]
    # Drops whole tokens to attend to, as the original Transformer did.
    attention_probs = dropout(attention_probs, attention_probs_dropout_prob)

    context_layer = tf.matmul(attention_probs, value_layer)  # [B, N, F, H]
    context_layer = tf.transpose(context_layer, [0, 2, 1, 3])  # [B, F, N, H]
    if do_return_2d_tensor:
        return tf.reshape(context_layer, [batch_size * from_seq_length,
                                          num_attention_heads * size_per_head])  # [B*F, N*H]
    return tf.reshape(context_layer, [batch_size, from_seq_length,
                                      num_attention_heads * size_per_head])  # [B, F, N*H]


def transformer_model(input_tensor,
                      attention_mask=None,
                      hidden_size=768,
                      num_hidden_layers=12,
                      num_attention_heads=12,
                      intermediate_size=3072,
                      intermediate_act_fn=gelu,
                      hidden_dropout_prob=0.1,
                      attention_probs_dropout_prob=0.1,
                      initializer_range=0.02,
                      do_return_all_layers=False):
    """The Transformer encoder stack ("Attention Is All You Need", post-LayerNorm).

    Each block `layer_<i>`: self-attention -> dense D -> dropout -> LayerNorm(+ input);
    then dense I + activation -> dense D -> dropout -> LayerNorm(+ attention output).

    Args:
      input_tensor: float Tensor of shape [batch_size, seq_length, hidden_size].
      attention_mask: (optional) int32 or float Tensor of shape
        [batch_size, seq_length, seq_length], 1 where attending is allowed, else 0.
      hidden_size: int, D; must equal the width of `input_tensor`.
      num_hidden_layers: int, number of blocks.
      num_attention_heads: int, N; must divide `hidden_size`.
      intermediate_size: int, I, width of the feed-forward layer.
      intermediate_act_fn: function, activation of the feed-forward layer.
      hidden_dropout_prob: float, dropout probability before each residual sum.
      attention_probs_dropout_prob: float, dropout probability on attention
        probabilities.
      initializer_range: float, stddev of the kernels' truncated normal initializer.
      do_return_all_layers: bool, return every block's output instead of the last.

    Returns:
      float Tensor of shape [batch_size, seq_length, hidden_size] (the last block), or
      a list of `num_hidden_layers` of them.

    Raises:
      ValueError: `hidden_size` is not a multiple of `num_attention_heads`, or the
        width of `input_tensor` is not `hidden_size`.
    """
    if hidden_size % num_attention_heads != 0:
        raise ValueError(f"hidden_size ({hidden_size}) is not a multiple of num_attention_heads "
                         f"({num_attention_heads}) in the BERT config.")
    attention_head_size = hidden_size // num_attention_heads  # H

    input_shape = get_shape_list(input_tensor, expected_rank=3)
    batch_size = input_shape[0]
    seq_length = input_shape[1]
    input_width = input_shape[2]
    # The residual sums need the input as wide as the blocks.
    if input_width != hidden_size:
        raise ValueError(f"The width of the input tensor ({input_width}) is not hidden_size "
                         f"({hidden_size}).")

    # The blocks work on [B*S, D] matrices (dense layers are plain matmuls); reshaped
    # back to [B, S, D] on return.
    prev_output = reshape_to_matrix(input_tensor)  # [B*S, D]
    all_layer_outputs = []
    for layer_idx in range(num_hidden_layers):
        # names kept ("layer_%d", "attention", "self", "output", "intermediate",
        # "dense"): checkpoints use them.
        with tf.variable_scope("layer_%d" % layer_idx):
            layer_input = prev_output  # [B*S, D]

            with tf.variable_scope("attention"):
                with tf.variable_scope("self"):
                    attention_output = attention_layer(
                        from_tensor=layer_input,
                        to_tensor=layer_input,
                        attention_mask=attention_mask,
                        num_attention_heads=num_attention_heads,
                        size_per_head=attention_head_size,
                        attention_probs_dropout_prob=attention_probs_dropout_prob,
                        initializer_range=initializer_range,
                        do_return_2d_tensor=True,
                        batch_size=batch_size,
                        from_seq_length=seq_length,
                        to_seq_length=seq_length)  # [B*S, N*H] = [B*S, D]

                # Project the concatenated heads, then the residual sum.
                with tf.variable_scope("output"):
                    attention_output = _output_sublayer(
                        attention_output, layer_input, hidden_size, hidden_dropout_prob,
                        initializer_range)  # [B*S, D]

            # Feed-forward: the only activation of the block is here.
            with tf.variable_scope("intermediate"):
                intermediate_output = _dense(
                    attention_output, intermediate_size, activation=intermediate_act_fn,
                    kernel_initializer=create_initializer(initializer_range))  # [B*S, I]

            with tf.variable_scope("output"):
                layer_output = _output_sublayer(
                    intermediate_output, attention_output, hidden_size, hidden_dropout_prob,
                    initializer_range)  # [B*S, D]
                prev_output = layer_output
                all_layer_outputs.append(layer_output)

    if do_return_all_layers:
        return [reshape_from_matrix(output, input_shape) for output in all_layer_outputs]  # [B, S, D] each
    return reshape_from_matrix(prev_output, input_shape)  # [B, S, D]


def get_shape_list(tensor, expected_rank=None, name=None):
    """Returns the shape of `tensor` as a list: static dims as Python ints, unknown dims
    as scalar int32 Tensors.

    Args:
      tensor: Tensor.
      expected_rank: (optional) int or list of ints; a different rank raises.
      name: (optional) str naming the tensor in the error message.

    Returns:
      list of ints and/or scalar Tensors, one per dimension.

    Raises:
      ValueError: the rank is not `expected_rank`.
    """
    if expected_rank is not None:
        assert_rank(tensor, expected_rank, name)

    shape = tensor.shape.as_list()
    dynamic_indexes = [index for index, dim in enumerate(shape) if dim is None]
    if not dynamic_indexes:
        return shape
    dynamic_shape = tf.shape(tensor)
    for index in dynamic_indexes:
        shape[index] = dynamic_shape[index]
    return shape


def reshape_to_matrix(input_tensor):
    """Reshapes a Tensor of rank >= 2 to a matrix [-1, last dim] (rank 2 unchanged)."""
    ndims = input_tensor.shape.ndims
    if ndims < 2:
        raise ValueError(f"reshape_to_matrix needs a tensor of rank >= 2; got shape {input_tensor.shape}.")
    if ndims == 2:
        return input_tensor
    width = get_shape_list(input_tensor)[-1]
    return tf.reshape(input_tensor, [-1, width])  # [product of leading dims, width]


def reshape_from_matrix(output_tensor, orig_shape_list):
    """Reshapes a matrix [M, W] back to `orig_shape_list[:-1] + [W]` (the inverse of
    `reshape_to_matrix`; a rank-2 original shape returns `output_tensor` unchanged)."""
    if len(orig_shape_list) == 2:
        return output_tensor
    width = get_shape_list(output_tensor)[-1]
    return tf.reshape(output_tensor, orig_shape_list[0:-1] + [width])


def assert_rank(tensor, expected_rank, name=None):
    """Raises a ValueError if `tensor` is not of rank `expected_rank`.

    Args:
      tensor: Tensor.
      expected_rank: int, or list of ints (any of them accepted).
      name: (optional) str naming the tensor in the message; default its graph name.

    Raises:
      ValueError: the rank differs, e.g. "Tensor `input_ids:0` has rank 3 (shape
        (2, 8, 1)) but rank 2 was expected (variable scope `bert/embeddings`)."
    """
    if name is None:
        name = "<eager tensor>" if tf.executing_eagerly() else tensor.name
    expected = [expected_rank] if isinstance(expected_rank, int) else list(expected_rank)
    actual_rank = tensor.shape.ndims
    if actual_rank not in expected:
        wanted = str(expected[0]) if len(expected) == 1 else "one of " + ", ".join(map(str, expected))
        raise ValueError(f"Tensor `{name}` has rank {actual_rank} (shape {tensor.shape}) but rank "
                         f"{wanted} was expected (variable scope "
                         f"`{tf.get_variable_scope().name}`).")
