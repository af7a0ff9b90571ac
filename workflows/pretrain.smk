# pretrain stage: rules are added as the stage lands.
