"""posttrain/addition: post-train a weak base model to add two numbers."""
