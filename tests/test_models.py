import pytest
import torch
from torch import nn

from huenet.errors import SettingsError
from huenet.models import VGGFusionConfig, config_from_dict, create_model, model_names

from conftest import HED_FILE


@pytest.mark.parametrize(
    "encoder,kernels,expected",
    [
        # VGG19 convs (20,024,384) - RGB conv1_1 (1,792) + L stem (640) + 512->512 3x3 (2,359,808)
        # + 512->256 3x3 (1,179,904) + 256->2 16x16 (131,074)
        ("vgg19", (3, 3, 16), 23_694_018),
        ("vgg19", (3, 3, 8), 23_595_714),
        ("vgg16", (3, 3, 16), 18_384_322),
    ],
)
def test_parameter_count_matches_design(encoder, kernels, expected):
    model = create_model("vgg_fusion", encoder=encoder, kernel_sizes=kernels)
    assert model.num_parameters() == expected


def test_readme_default_is_vgg19_with_3x3_fusion_kernels():
    cfg = VGGFusionConfig()
    assert cfg.encoder == "vgg19" and cfg.kernel_sizes[:2] == (3, 3)
    assert "vgg_fusion" in model_names()


def test_kernel_smaller_than_stride_is_refused():
    with pytest.raises(ValueError, match="no kernel tap"):
        VGGFusionConfig(kernel_sizes=(3, 3, 3))


@pytest.mark.parametrize("kernels", [(3, 3, 16), (4, 4, 16), (3, 3, 8)])
def test_every_output_pixel_depends_on_the_input(kernels):
    torch.manual_seed(0)
    model = create_model("vgg_fusion", encoder="vgg16", kernel_sizes=kernels, width=0.125).double().eval()
    nn.init.normal_(model.head.weight, std=0.01)  # the head starts at zero (gray); any trained one is not
    L = torch.rand(1, 1, 64, 96, dtype=torch.float64) * 100
    with torch.no_grad():
        base = model(L)
        moved = model(L + torch.randn_like(L) * 5)
    changed = (base - moved).abs().amax(dim=1)  # 1 x H x W
    assert (changed > 1e-9).all(), f"{(changed <= 1e-9).sum().item()} pixels ignore the input"


def test_fresh_model_predicts_gray():
    model = create_model("vgg_fusion", encoder="vgg16", width=0.125).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 1, 64, 64) * 100).abs().max() == 0


def test_dataflow_is_fusion_of_pool4_and_pool3_with_no_nonlinearity():
    torch.manual_seed(0)
    model = create_model("vgg_fusion", encoder="vgg19", width=0.125).eval()
    nn.init.normal_(model.head.weight, std=0.01)
    assert [type(m) for m in (model.up4, model.up3, model.head)] == [nn.ConvTranspose2d] * 3
    L = torch.rand(2, 1, 64, 64) * 100
    with torch.no_grad():
        f = model.encoder.forward_features(model.scaling.normalize_l(L), ["pool3", "pool4", "relu5_4", "pool5"])
        assert f["relu5_4"].shape[-1] == 4 and f["pool5"].shape[-1] == 2  # relu5_4 at 1/16, pool5 at 1/32
        manual = model.head(model.up3(model.up4(f["pool5"]) + f["pool4"]) + f["pool3"])
        assert torch.allclose(model(L), manual * 110, atol=1e-5)


@pytest.mark.parametrize("hw", [(1, 1), (33, 47), (100, 31), (64, 64)])
def test_any_input_size_comes_back_same_size(hw):
    model = create_model("vgg_fusion", encoder="vgg16", width=0.125).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, *hw) * 100)
    assert out.shape == (2, 2, *hw)


def test_config_from_json_values_and_unknown_fields():
    cfg = config_from_dict("vgg_fusion", {"encoder": "vgg16", "kernel_sizes": [4, 4, 16]})
    assert cfg.kernel_sizes == (4, 4, 16)
    with pytest.raises(ValueError, match="unknown vgg_fusion config fields"):
        config_from_dict("vgg_fusion", {"depth": 3})
    with pytest.raises(SettingsError, match="unknown model"):
        create_model("nope")


def test_pretrained_trunk_is_loaded_and_stem_folded():
    model = create_model("vgg_fusion", encoder="vgg16", stem_init="gray", encoder_weights=f"hed:{HED_FILE}")
    ref = create_model("vgg_fusion", encoder="vgg16")
    assert model.encoder.features[28].weight.abs().sum() != ref.encoder.features[28].weight.abs().sum()
    assert model.encoder.features[0].weight.shape == (64, 1, 3, 3)
    assert model.encoder_provenance["source"] == "hed"
    with pytest.raises(ValueError, match="width 1.0"):
        create_model("vgg_fusion", encoder="vgg16", width=0.5, encoder_weights=f"hed:{HED_FILE}")


# --- issue 16: heads, outputs and the residual network ------------------------------------------

HEADS = [
    ("vgg_fusion", {"head": "convt"}),
    ("vgg_fusion", {"head": "smooth", "head_stride": 8}),
    ("vgg_fusion", {"head": "smooth", "head_stride": 4}),
    ("vgg_fusion", {"head": "smooth", "head_stride": 4, "output": "bins"}),
    ("resnet_johnson", {"width": 8, "blocks": 2}),
    ("resnet_johnson", {"width": 8, "blocks": 2, "output": "bins"}),
]


def _small(name, cfg):
    extra = {"encoder": "vgg16", "width": 0.125} if name == "vgg_fusion" else {}
    return create_model(name, {**extra, **cfg})


@pytest.mark.parametrize("name,cfg", HEADS)
def test_each_head_gives_full_size_ab_and_raw_at_its_stride(name, cfg):
    torch.manual_seed(0)
    model = _small(name, cfg).eval()
    L = torch.rand(2, 1, 72, 100) * 100
    with torch.no_grad():
        ab, raw = model(L), model.raw(L)
    assert ab.shape == (2, 2, 72, 100)
    stride = cfg.get("head_stride", 8) if cfg.get("head") == "smooth" else 1
    channels = 261 if cfg.get("output") == "bins" else 2
    assert raw.shape == (2, channels, -(-72 // stride), -(-100 // stride))
    if cfg.get("output") == "bins":
        assert model.ab_bins.shape == (261, 2) and model.config.num_bins == 261


@pytest.mark.parametrize("name,cfg", HEADS)
def test_every_output_pixel_depends_on_the_input_for_each_head(name, cfg):
    torch.manual_seed(0)
    model = _small(name, cfg).double().eval()
    last = model.head if isinstance(model.head, (nn.Conv2d, nn.ConvTranspose2d)) else model.head[-1]
    nn.init.normal_(last.weight, std=0.05)  # heads start at zero (gray / uniform); a trained one is not
    L = torch.rand(1, 1, 64, 96, dtype=torch.float64) * 100
    with torch.no_grad():
        changed = (model(L) - model(L + torch.randn_like(L) * 5)).abs().amax(dim=1)
    assert (changed > 1e-9).all(), f"{(changed <= 1e-9).sum().item()} pixels ignore the input"


def test_smooth_head_leaves_no_8_pixel_grid():
    """The seed's stride-8 transposed conv paints a periodic pattern; a bilinear head cannot."""
    torch.manual_seed(0)
    out = {}
    for head in ("convt", "smooth"):
        model = _small("vgg_fusion", {"head": head}).eval()
        last = model.head if head == "convt" else model.head[-1]
        nn.init.normal_(last.weight, std=0.05)
        with torch.no_grad():
            ab = model(torch.full((1, 1, 128, 128), 50.0))[0, 0]  # a flat input: any pattern is the head's
        spec = torch.fft.rfft(ab.mean(0) - ab.mean()).abs()
        out[head] = (spec[128 // 8] / spec[1:].median()).item()  # energy at period 8 vs typical
    assert out["convt"] > 10 * out["smooth"], out


def test_residual_network_trains_forward_and_backward():
    torch.manual_seed(0)
    model = create_model("resnet_johnson", width=8, blocks=2)
    assert not hasattr(model, "encoder") and model.num_parameters() > 10_000
    nn.init.normal_(model.head.weight, std=0.05)
    L = torch.rand(2, 1, 64, 64) * 100
    loss = model(L).pow(2).mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) == len(list(model.parameters())) and all(torch.isfinite(g).all() for g in grads)
    with pytest.raises(ValueError, match="from scratch"):
        model.load_encoder_weights("imagenet")


def test_head_and_output_options_are_checked():
    with pytest.raises(ValueError, match="head"):
        VGGFusionConfig(head="mlp")
    with pytest.raises(ValueError, match="1/4 or 1/8"):
        VGGFusionConfig(head="smooth", head_stride=2)
    with pytest.raises(ValueError, match="output"):
        VGGFusionConfig(output="rgb")
    with pytest.raises(ValueError, match="temperature"):
        VGGFusionConfig(output="bins", temperature=0)


def test_temperature_per_call_changes_chroma_of_a_classification_model():
    torch.manual_seed(0)
    model = _small("vgg_fusion", {"head": "smooth", "head_stride": 4, "output": "bins"}).eval()
    nn.init.normal_(model.head[-1].weight, std=3.0)  # spread logits: T matters
    L = torch.rand(1, 1, 64, 64) * 100
    from huenet.objectives import annealed_mean

    with torch.no_grad():
        assert torch.equal(model(L), model(L, temperature=model.temperature))
        raw = model.raw(L)
        for t in (1.0, 0.38, 0.1):
            small = annealed_mean(raw, model.ab_bins, t)  # at 1/4, then bilinear to full size
            full = torch.nn.functional.interpolate(small, size=(64, 64), mode="bilinear", align_corners=False)
            assert torch.allclose(model(L, temperature=t), full, atol=1e-4)
        assert not torch.allclose(model(L, temperature=1.0), model(L, temperature=0.1), atol=1.0)
