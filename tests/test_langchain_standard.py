"""LangChain's own standard test suites (langchain-tests) run against our classes."""
from __future__ import annotations

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, RetrieversIntegrationTests

from assistant.embeddings import MiniLMEmbeddings
from assistant.retrieval import PolicyRetriever

pytestmark = pytest.mark.integration  # LangChain's standard suites over the real model and index


class TestMiniLMEmbeddings(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[MiniLMEmbeddings]:
        return MiniLMEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {}


class TestPolicyRetriever(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _corpus(self, corpus_bot):
        self.bot = corpus_bot

    @property
    def retriever_constructor(self) -> type[PolicyRetriever]:
        return PolicyRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"assistant": self.bot}

    @property
    def retriever_query_example(self) -> str:
        return "What does Article 5 of the North Atlantic Treaty commit the parties to?"
