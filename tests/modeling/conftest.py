import pytest

from tests.tiny import make_model, toy_data


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("tiny-bert"), "bert")


@pytest.fixture(scope="session")
def tiny_distilbert(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("tiny-distilbert"), "distilbert")


@pytest.fixture(scope="session")
def toy():
    return toy_data()
