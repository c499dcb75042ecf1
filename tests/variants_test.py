"""sgan_tf/variants.py: names derived from the registry."""

from sgan_tf import variants


def test_series_description_names_the_enhanced_channel_that_ran():
    for name in (*variants.NAMES, "nlm"):  # every variant and the BM3D fallback
        assert variants.series_description(name) == f"sgan-tf {variants.output_name(name)}"
    assert variants.series_description("sgan") == "sgan-tf SGAN enhanced"
