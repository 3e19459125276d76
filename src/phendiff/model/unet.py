"""Class-conditional UNet with the contract ``out = model(x_t, t, labels)``.

A diffusers ``UNet2DModel`` with ``K + 1`` class embeddings: labels ``0 .. K-1`` are the
conditions of the model's :class:`~phendiff.conditions.ConditionTable`, label ``K`` is the
null condition used for classifier-free guidance. The network knows nothing of schedules.
"""

from __future__ import annotations

import torch
from torch import nn

from phendiff.config import ModelConfig


class ConditionalUNet(nn.Module):
    """ε_θ(x_t, t, y) (or v_θ): ``x_t`` (N, C, Y, X), ``t`` (N,) or scalar long, ``labels`` (N,)."""

    def __init__(self, config: ModelConfig, num_conditions: int) -> None:
        super().__init__()
        from diffusers import UNet2DModel

        self.config = config
        self.num_conditions = num_conditions
        levels = range(len(config.block_out_channels))
        attn = set(config.attention_levels)
        groups = min(32, config.block_out_channels[0] // 2)
        self.unet = UNet2DModel(
            sample_size=config.image_size,
            in_channels=config.in_channels,
            out_channels=config.in_channels,
            block_out_channels=config.block_out_channels,
            layers_per_block=config.layers_per_block,
            down_block_types=tuple(
                "AttnDownBlock2D" if i in attn else "DownBlock2D" for i in levels
            ),
            up_block_types=tuple(
                "AttnUpBlock2D" if i in attn else "UpBlock2D" for i in reversed(levels)
            ),
            norm_num_groups=groups,
            attention_head_dim=8,
            dropout=config.dropout,
            resnet_time_scale_shift="scale_shift" if config.scale_shift_norm else "default",
            num_class_embeds=num_conditions + 1,  # + the null label K
        )

    @property
    def null_label(self) -> int:
        return self.num_conditions

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        if labels is None:
            labels = torch.full((x.shape[0],), self.null_label, dtype=torch.long, device=x.device)
        return self.unet(x, t, class_labels=labels).sample


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model`` (trainable or not)."""
    return sum(p.numel() for p in model.parameters())
