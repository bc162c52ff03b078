"""Small CNN backbones that return the output of every stage.

[ours] `plain`: a VGG-style stack (conv-BN-ReLU blocks, max-pool between
stages), the fastest to train on a laptop CPU. `dense`: a DenseNet-style
stack (dense blocks joined by 1x1 transitions and average pooling) in the
spirit of A3Net's DenseNet-121 at MNIST size. `densenet121`: Keras's own
DenseNet-121 (untrained) for paper-sized inputs.

Every backbone is a `keras.Model` named "backbone" whose outputs are the list
of stage tensors `[F_1, …, F_n]`, finest first, each stage half the size of
the one before.
"""
from __future__ import annotations

import keras
from keras import layers

from tal.core.batchnorm import FusedBatchNormalization
from tal.core.config import ConfigError

# The four dense-block outputs of keras.applications.DenseNet121.
DENSENET121_STAGES = ("conv2_block6_concat", "conv3_block12_concat", "conv4_block24_concat", "relu")


def _conv_bn_relu(x, filters, kernel_size, momentum, name):
    x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = FusedBatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def plain_backbone(input_shape, stage_filters, convs_per_stage=2, bn_momentum=0.9):
    """VGG-style stages: `convs_per_stage` × (conv3x3-BN-ReLU), max-pool between stages."""
    inputs = keras.Input(input_shape, name="image")
    x, stages = inputs, []
    for k, filters in enumerate(stage_filters):
        if k > 0:
            x = layers.MaxPooling2D(2, name=f"stage{k + 1}_pool")(x)
        for j in range(convs_per_stage):
            x = _conv_bn_relu(x, filters, 3, bn_momentum, f"stage{k + 1}_block{j + 1}")
        stages.append(x)
    return keras.Model(inputs, stages, name="backbone")


def dense_backbone(input_shape, stage_filters, convs_per_stage=2, bn_momentum=0.9):
    """DenseNet-style stages that each end with `stage_filters[k]` channels.

    Stage k starts from a 1x1 transition to half its width (average-pooled
    after the first stage), then `convs_per_stage` layers each concatenate
    `growth = width / (2 · convs_per_stage)` new channels.
    """
    inputs = keras.Input(input_shape, name="image")
    x = _conv_bn_relu(inputs, max(stage_filters[0] // 2, 8), 3, bn_momentum, "stem")
    stages = []
    for k, filters in enumerate(stage_filters):
        x = _conv_bn_relu(x, filters // 2, 1, bn_momentum, f"stage{k + 1}_transition")
        if k > 0:
            x = layers.AveragePooling2D(2, name=f"stage{k + 1}_pool")(x)
        growth = max(filters // (2 * convs_per_stage), 1)
        for j in range(convs_per_stage):
            new = _conv_bn_relu(x, growth, 3, bn_momentum, f"stage{k + 1}_dense{j + 1}")
            x = layers.Concatenate(name=f"stage{k + 1}_concat{j + 1}")([x, new])
        stages.append(x)
    return keras.Model(inputs, stages, name="backbone")


def densenet121_backbone(input_shape):
    """Keras's DenseNet-121 (random weights: nothing is downloaded) cut at its four dense blocks."""
    if min(input_shape[:2]) < 32:
        raise ConfigError(f"densenet121 needs inputs of at least 32x32. Received: input_shape={input_shape}")
    base = keras.applications.DenseNet121(include_top=False, weights=None, input_shape=input_shape)
    outputs = [base.get_layer(name).output for name in DENSENET121_STAGES]
    return keras.Model(base.inputs, outputs, name="backbone")


def build_backbone(config):
    """Build the backbone named by `config.backbone` (a `tal.ModelConfig`)."""
    if config.backbone == "densenet121":
        return densenet121_backbone(tuple(config.input_shape))
    builder = {"plain": plain_backbone, "dense": dense_backbone}[config.backbone]
    n = len(config.stage_filters)
    height, width = config.input_shape[:2]
    if height % 2 ** (n - 1) or width % 2 ** (n - 1):
        raise ConfigError(
            f"A {n}-stage backbone halves the image {n - 1} times, so height and width must be "
            f"multiples of {2 ** (n - 1)}. Received: input_shape={tuple(config.input_shape)}"
        )
    return builder(tuple(config.input_shape), tuple(config.stage_filters), config.convs_per_stage, config.bn_momentum)
