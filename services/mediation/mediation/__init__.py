"""mediation: multi-channel dispute resolution, one case code across every referral."""
