"""Policy rules on durable-rules (promotions, referrals, overdraft, disputes, alerts): built in a later issue."""
