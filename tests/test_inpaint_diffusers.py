"""The optional Stable Diffusion inpainting backend with a tiny random pipeline built in the test.

Nothing is downloaded: the UNet, VAE, text encoder and a hand-made tokenizer vocabulary are made from
configs, saved to a folder and loaded back through the backend's real loading code (local files only).
Needs the `ml` extra (torch, diffusers, transformers), which setup.sh installs.
"""

from __future__ import annotations

import json

import diffusers
import numpy as np
import pytest
import torch
import transformers

from avatar_plugin.errors import ConfigError
from avatar_plugin.generator.backends.diffusion import DiffusersInpainter


def _tokenizer(folder):
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens = ["<|startoftext|>", "<|endoftext|>", "!"] + letters + [f"{c}</w>" for c in letters] + [",</w>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77,
                                      pad_token="!")


def _tiny_pipeline(tmp_path):
    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=9, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16, norm_num_groups=4, attention_head_dim=2)
    vae = diffusers.AutoencoderKL(
        block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), sample_size=32)
    text = transformers.CLIPTextModel(transformers.CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=2, hidden_size=16, intermediate_size=32,
        num_attention_heads=2, num_hidden_layers=1, vocab_size=64, max_position_embeddings=77))
    tok_dir = tmp_path / "tok"
    tok_dir.mkdir()
    pipe = diffusers.StableDiffusionInpaintPipeline(
        unet=unet, vae=vae, text_encoder=text, tokenizer=_tokenizer(tok_dir),
        scheduler=diffusers.DDIMScheduler(steps_offset=1), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_tiny_pipeline_fills_only_the_hole_and_loads_from_a_local_folder(tmp_path):
    folder = tmp_path / "sd-inpaint"
    _tiny_pipeline(tmp_path).save_pretrained(folder)
    inpainter = DiffusersInpainter(folder, device="cpu", steps=2)  # the real from_pretrained path, offline

    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[:, :20] = (200, 60, 60)
    rgb[:, 20:] = (60, 60, 200)
    hole = np.zeros((40, 40), bool)
    hole[10:30, 12:28] = True
    out = inpainter.inpaint(rgb, hole, ~hole)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~hole], rgb[~hole])  # nothing outside the hole changes
    assert (out[hole] != rgb[hole]).any()  # the hole was painted
    np.testing.assert_array_equal(inpainter.inpaint(rgb, np.zeros_like(hole), ~hole), rgb)


def test_a_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="local diffusers inpainting folder"):
        DiffusersInpainter(tmp_path / "nope", device="cpu")
