"""The billing model: pure Python, no web, storage or network."""
