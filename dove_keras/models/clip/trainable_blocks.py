"""Which parts of a CLIP's towers train: frozen, the last N transformer blocks, or all."""

ALL_BLOCKS = -1


def set_trainable_blocks(backbone, blocks):
    """Sets `trainable` on the layers of a keras-hub `CLIPBackbone`'s two towers.

    The projections and the temperature (`clip_head.logit_scale`) always
    train. `blocks=0` freezes both transformers (embeddings and blocks);
    `blocks=N` trains the last N blocks of each tower and its final layer
    norm; `blocks=-1` (`ALL_BLOCKS`) trains everything.

    Args:
        backbone: a `keras_hub.models.CLIPBackbone`.
        blocks: 0, a positive block count, or -1.

    Raises:
        ValueError: `blocks` is below -1 or more than a tower has.
    """
    towers = (backbone.vision_encoder, backbone.text_encoder)
    depth = min(len(tower.encoder_layers) for tower in towers)
    if isinstance(blocks, bool) or not isinstance(blocks, int) or not ALL_BLOCKS <= blocks <= depth:
        raise ValueError(f"trainable blocks must be -1 (all), 0 (frozen towers) or at most the towers' "
                         f"{depth} blocks, got {blocks!r}.")
    backbone.trainable = True
    for tower in towers:
        tower.trainable = True
        trained = len(tower.encoder_layers) if blocks == ALL_BLOCKS else blocks
        first_trained = len(tower.encoder_layers) - trained
        for layer in tower.layers:
            if layer in tower.encoder_layers:
                layer.trainable = tower.encoder_layers.index(layer) >= first_trained
            elif layer is tower.layer_norm:
                layer.trainable = trained > 0
            else:  # the input, the embeddings and the vision tower's pre-norm
                layer.trainable = blocks == ALL_BLOCKS
