local x <close> = 1 x = 2 goto nowhere return return
