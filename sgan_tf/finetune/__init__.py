"""CT fine-tuning of G1 and G2 in rounds (`rounds`, train_main --stage=finetune), selecting its
training ROIs by an automatic quality score (`score`)."""
