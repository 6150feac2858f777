import pytest

from modeling.config import Phase
from modeling.pipeline import build_version
from tests.tiny import make_model, tiny_config, toy_data


@pytest.fixture(scope="session")
def tiny_versions(tmp_path_factory):
    """Two tiny registry versions whose outputs differ, in a session-wide store."""
    store = tmp_path_factory.mktemp("model-store")
    data = toy_data()
    versions = []
    for seed, epochs in ((0, 4), (1, 1)):
        base = make_model(tmp_path_factory.mktemp(f"base{seed}"), "bert", seed=seed)
        config = tiny_config(str(base), phases=(Phase("all", epochs, 2e-3),), seed=seed)
        versions.append(build_version(config, data, data_source="toy", data_seed=0, store=store,
                                      work_dir=tmp_path_factory.mktemp("work"), show_progress=False))
    return store, versions


@pytest.fixture
def model_store(tiny_versions, settings):
    store, versions = tiny_versions
    settings.SENTIMENT_MODEL_STORE = store
    return versions


@pytest.fixture
def active_model(model_store, db):
    """The first tiny version registered (and so active), with this process's predictor reset."""
    from reviews import predictor
    from reviews.services import model_version_register

    predictor.reset()
    row = model_version_register(version_id=model_store[0].id)
    yield row
    predictor.reset()


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True, is_superuser=True)


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user("member", password="pw-member-123")


@pytest.fixture(autouse=True)
def _fresh_rate_limits(request, settings):
    """Each test starts with empty rate-limit counters and generous limits."""
    from django.core.cache import cache

    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames)
    if uses_db:
        cache.clear()
    settings.SENTIMENT_RATES = {"predict": {"anon": "1000/min", "user": "1000/min"},
                                "flag": {"anon": "1000/min", "user": "1000/min"}}
