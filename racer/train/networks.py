"""Feature extractors: DeepRacer's shallow CNN for 120x160 grayscale frames."""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class ShallowCNN(BaseFeaturesExtractor):
    """DeepRacer's ``DEEP_CONVOLUTIONAL_NETWORK_SHALLOW`` shape: three conv layers and one dense.

    Sized for 120x160 frames (one channel, or two for stereo): 8x8/4 -> 4x4/2 -> 3x3/2 conv with
    16, 32, 32 filters, then a 256-unit dense layer. Narrower than DeepRacer's (32/64/64, 512) so it
    trains in minutes on a laptop CPU and infers in well under a millisecond on the car; the depth
    and receptive field are the same. Input is raw uint8 frames; stable-baselines3 scales by 1/255.
    """

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 256) -> None:
        super().__init__(observation_space, features_dim)
        channels = observation_space.shape[0]
        self.cnn = nn.Sequential(
            nn.Conv2d(channels, 16, kernel_size=8, stride=4),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=4, stride=2),
            nn.ReLU(),
            nn.Conv2d(32, 32, kernel_size=3, stride=2),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.cnn(torch.zeros(1, *observation_space.shape)).shape[1]
        self.linear = nn.Sequential(nn.Linear(n_flat, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.linear(self.cnn(observations))
