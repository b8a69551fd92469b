"""pretrain/synthlang: a seeded synthetic language with an exact entropy floor."""
