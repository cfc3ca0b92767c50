import pytest

from switchboard_common.events.models import Language
from switchboard_common.language import guess_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("我的订单还没发货，怎么回事？", Language.ZH_HANS),
        ("我的訂單還沒發貨，怎麼回事？", Language.ZH_HANT),
        ("Where is my order? It has not arrived.", Language.EN),
    ],
)
def test_raw_text_is_recognised_without_a_taxonomy(text, language):
    assert guess_language(text) is language


def test_the_prior_decides_when_the_text_cannot():
    assert guess_language("", Language.ZH_HANT) is Language.ZH_HANT
